"""Proxies that break the contracts the way production once did, for ``PROXY_CMD``.

``python tests/incidents/broken_proxy.py INCIDENT --port P --auth-url U --mlflow-url M``

Each is the reference proxy with one thing changed, so that the toolkit can be
shown to catch and name exactly that change:

- ``key-in-header``: incident 1, the key sent to validate as ``Authorization: Bearer``
  with a body of only ``{"service_id": ...}``;
- ``leak-authorization``: the caller's ``Authorization`` forwarded to MLflow;
- ``drop-patch-body``: PATCH requests forwarded without their body;
- ``no-artifact-route``: incident 4, ``api/2.0/mlflow-artifacts/...`` answered 404 by the proxy;
- ``outage-as-401``: incident 5, an auth service that fails or is unreachable reported as a bad key;
- ``401-detail``: every 401 answered FastAPI-style, ``{"detail": ...}`` without ``WWW-Authenticate``;
- ``json-as-text``: every JSON answer labelled ``Content-Type: text/plain`` (issue 16: one defect on
  every operation, which the report must show as one cause).

And, for precision (issue 12), ways real proxies differ from the reference one; several may be
combined with commas (``forward-x-api-key,forward-query-key``) so that one stack serves them all:

- ``check-scopes``: a correct proxy that refuses (403, its own body) keys without the scopes
  read and write: no finding is the right answer for keys like the real ones;
- ``forward-x-api-key``: the caller's ``X-API-Key`` header forwarded to MLflow;
- ``forward-query-key``: the caller's ``?api_key=`` forwarded to MLflow;
- ``400-without-key``: a request without a key answered 400, not 401;
- ``401-text-plain``: every 401 sent as ``text/plain``.

And for the faults and the large artifact (issue 23):

- ``413-large-upload``: an artifact upload over 16 MB refused with 413 and nginx's HTML page, as a
  load balancer's ``client_max_body_size`` does (the scenario's small model still goes through).

Incident 2 (``service_id: ml-platform``) needs no code: it is the reference
proxy with ``--service-id ml-platform``.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
from hokusai_mocks.reference_proxy import __main__ as proxy_main
from hokusai_mocks.reference_proxy import app as proxy_app
from hokusai_mocks.reference_proxy import auth as proxy_auth

INCIDENTS = ("key-in-header", "leak-authorization", "drop-patch-body", "no-artifact-route", "outage-as-401",
             "check-scopes", "forward-x-api-key", "forward-query-key", "400-without-key", "401-text-plain",
             "401-detail", "json-as-text", "413-large-upload")
#: What ``413-large-upload`` lets through: nginx's client_max_body_size, as a deployment might set it.
UPLOAD_LIMIT = 16 * 1024 * 1024
NEEDED_SCOPES = {"read", "write"}


async def _ask_with_header(self: proxy_auth.Validator, key: str) -> Any:
    url = self.settings.auth_url.rstrip("/") + "/api/v1/keys/validate"
    try:
        response = await self.client.post(url, json={"service_id": self.settings.service_id},
                                          headers={"Authorization": f"Bearer {key}"})
    except httpx.TransportError:
        return proxy_auth.Rejection(503, "SERVICE_UNAVAILABLE", "The auth service is unreachable.")
    return proxy_auth._interpret(response)


async def _outage_as_401(self: proxy_auth.Validator, key: str) -> Any:
    url = self.settings.auth_url.rstrip("/") + "/api/v1/keys/validate"
    try:
        response = await self.client.post(url, json={"api_key": key, "service_id": self.settings.service_id},
                                          timeout=self.settings.auth_timeout_s)
    except httpx.HTTPError:
        return proxy_auth.Rejection(401, "UNAUTHENTICATED", "Invalid or expired API key.")
    outcome = proxy_auth._interpret(response)
    if isinstance(outcome, proxy_auth.Rejection) and outcome.status >= 500:
        return proxy_auth.Rejection(401, "UNAUTHENTICATED", "Invalid or expired API key.")
    return outcome


def _drop_patch_bodies() -> None:
    original = httpx.AsyncClient.build_request

    def build_request(self: httpx.AsyncClient, method: str, url: Any, **kwargs: Any) -> httpx.Request:
        if method == "PATCH":
            kwargs["content"] = b""
            headers = [(k, v) for k, v in kwargs.get("headers") or [] if k.lower() != "content-length"]
            kwargs["headers"] = headers
        return original(self, method, url, **kwargs)

    httpx.AsyncClient.build_request = build_request  # type: ignore[method-assign]


def _no_artifact_route() -> None:
    original = proxy_app.ReferenceProxy

    def create_app(settings: Any, transport: Any = None) -> Any:
        inner = original(settings, transport)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and "/api/2.0/mlflow-artifacts/" in scope["path"] + "/":
                await send({"type": "http.response.start", "status": 404,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"Not Found"})
                return
            await inner(scope, receive, send)

        return app

    proxy_main.ReferenceProxy = create_app  # type: ignore[assignment]


_interpret = proxy_auth._interpret


def _interpret_with_scopes(response: httpx.Response) -> Any:
    outcome = _interpret(response)
    if isinstance(outcome, proxy_auth.Identity) and not NEEDED_SCOPES <= set(response.json().get("scopes") or []):
        return proxy_auth.Rejection(403, "PERMISSION_DENIED", "This key lacks the scopes read and write.")
    return outcome


def _wrap_app(middleware: Any) -> None:
    """Put an ASGI middleware around the app the proxy's main builds."""
    original = proxy_main.ReferenceProxy

    def create_app(settings: Any, transport: Any = None) -> Any:
        return middleware(original(settings, transport))

    proxy_main.ReferenceProxy = create_app  # type: ignore[assignment]


def _bad_request_without_key(inner: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = {k.lower(): v for k, v in scope.get("headers") or []} if scope["type"] == "http" else {}
        if scope["type"] == "http" and "/health" not in scope["path"] and b"authorization" not in headers \
                and b"x-api-key" not in headers:
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"error_code": "BAD_REQUEST", "message": "no key"}'})
            return
        await inner(scope, receive, send)
    return app


def _unauthorized_as_text(inner: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                message = {**message, "headers": [(k, b"text/plain" if k.lower() == b"content-type" else v)
                                                  for k, v in message.get("headers") or []]}
            await send(message)
        await inner(scope, receive, sending)
    return app


def _401_as_detail() -> None:
    original = proxy_app.ReferenceProxy

    def create_app(settings: Any, transport: Any = None) -> Any:
        inner = original(settings, transport)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            rewriting = False

            async def rewrite(message: Any) -> None:
                nonlocal rewriting
                if message["type"] == "http.response.start" and message["status"] == 401:
                    rewriting = True
                    await send({"type": "http.response.start", "status": 401,
                                "headers": [(b"content-type", b"application/json")]})
                elif message["type"] == "http.response.body" and rewriting:
                    if not message.get("more_body"):
                        await send({"type": "http.response.body", "body": b'{"detail": "Not authenticated"}'})
                else:
                    await send(message)

            await inner(scope, receive, rewrite if scope["type"] == "http" else send)

        return app

    proxy_main.ReferenceProxy = create_app  # type: ignore[assignment]


def _large_upload_refused(inner: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = {k.lower(): v for k, v in scope.get("headers") or []} if scope["type"] == "http" else {}
        if scope["type"] == "http" and scope["method"] == "PUT" and "/mlflow-artifacts/artifacts/" in scope["path"] \
                and int(headers.get(b"content-length", b"0")) > UPLOAD_LIMIT:
            # Read the body away first (nginx's lingering close): the client then reads the 413, not a reset.
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": b"<html><head><title>413 Request Entity Too Large"
                                                              b"</title></head><body>nginx</body></html>"})
            return
        await inner(scope, receive, send)
    return app


def _json_as_text() -> None:
    original = proxy_app.ReferenceProxy

    def create_app(settings: Any, transport: Any = None) -> Any:
        inner = original(settings, transport)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            async def relabel(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [
                        (k, b"text/plain" if k.lower() == b"content-type" and v.startswith(b"application/json") else v)
                        for k, v in message.get("headers", [])]}
                await send(message)

            await inner(scope, receive, relabel if scope["type"] == "http" else send)

        return app

    proxy_main.ReferenceProxy = create_app  # type: ignore[assignment]


def _apply(incident: str) -> None:
    if incident == "key-in-header":
        proxy_auth.Validator._ask_auth_service = _ask_with_header  # type: ignore[method-assign]
    elif incident == "outage-as-401":
        proxy_auth.Validator._ask_auth_service = _outage_as_401  # type: ignore[method-assign]
    elif incident == "no-artifact-route":
        _no_artifact_route()
    elif incident == "leak-authorization":
        proxy_app._DROP_REQUEST.discard("authorization")
    elif incident == "check-scopes":
        proxy_auth._interpret = _interpret_with_scopes
    elif incident == "forward-x-api-key":
        proxy_app._DROP_REQUEST.discard("x-api-key")
    elif incident == "forward-query-key":
        proxy_app._without_credentials = lambda query: query
    elif incident == "400-without-key":
        _wrap_app(_bad_request_without_key)
    elif incident == "json-as-text":
        _json_as_text()
    elif incident == "401-detail":
        _401_as_detail()
    elif incident == "401-text-plain":
        _wrap_app(_unauthorized_as_text)
    elif incident == "413-large-upload":
        _wrap_app(_large_upload_refused)
    else:
        _drop_patch_bodies()


def main() -> None:
    chosen = sys.argv[1].split(",") if len(sys.argv) >= 2 else []
    if not chosen or any(incident not in INCIDENTS for incident in chosen):
        sys.exit(f"usage: broken_proxy.py {{{'|'.join(INCIDENTS)}}}[,...] --port P --auth-url U --mlflow-url M")
    sys.argv.pop(1)
    for incident in chosen:
        _apply(incident)
    proxy_main.main()


if __name__ == "__main__":
    main()
