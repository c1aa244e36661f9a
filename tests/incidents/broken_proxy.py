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
- ``401-detail``: every 401 answered FastAPI-style, ``{"detail": ...}`` without ``WWW-Authenticate``
  (no suite sends the proxy unauthenticated requests yet, so no check sees it);
- ``json-as-text``: every JSON answer labelled ``Content-Type: text/plain`` (issue 16: one defect on
  every operation, which the report must show as one cause).

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
             "401-detail", "json-as-text")


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
    original = proxy_app.create_app

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

    proxy_main.create_app = create_app  # type: ignore[assignment]


def _401_as_detail() -> None:
    original = proxy_app.create_app

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

    proxy_main.create_app = create_app  # type: ignore[assignment]


def _json_as_text() -> None:
    original = proxy_app.create_app

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

    proxy_main.create_app = create_app  # type: ignore[assignment]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in INCIDENTS:
        sys.exit(f"usage: broken_proxy.py {{{'|'.join(INCIDENTS)}}} --port P --auth-url U --mlflow-url M")
    incident = sys.argv.pop(1)
    if incident == "key-in-header":
        proxy_auth.Validator._ask_auth_service = _ask_with_header  # type: ignore[method-assign]
    elif incident == "outage-as-401":
        proxy_auth.Validator._ask_auth_service = _outage_as_401  # type: ignore[method-assign]
    elif incident == "no-artifact-route":
        _no_artifact_route()
    elif incident == "json-as-text":
        _json_as_text()
    elif incident == "401-detail":
        _401_as_detail()
    elif incident == "leak-authorization":
        proxy_app._DROP_REQUEST.discard("authorization")
    else:
        _drop_patch_bodies()
    proxy_main.main()


if __name__ == "__main__":
    main()
