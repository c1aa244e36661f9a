"""The reference proxy as an ASGI app.

It does what ``shared/reference/topology.md`` says the production proxy does:
take the caller's key from ``Authorization: Bearer`` (or ``X-API-Key``),
validate it with the auth service, forward the call to MLflow without the
caller's credentials (with them, as production's does since 2026-06-30, when
``PROXY_FORWARD_CREDENTIALS`` is set) but with ``X-Hokusai-User-Id`` / ``X-Hokusai-API-Key-Id``,
stream bodies both ways, and record usage after the response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .auth import Identity, Rejection, Validator
from .settings import ProxySettings

log = logging.getLogger("hokusai_mocks.reference_proxy")

# Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus
# the caller's credentials, which MLflow must never see. Content-Length stays: MLflow's
# tracking API runs under WSGI, which reads an empty body from a chunked request.
_HOP_BY_HOP = {
    "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
    "transfer-encoding", "proxy-authorization",
}
_DROP_REQUEST = _HOP_BY_HOP | {"authorization", "x-api-key"}
_FORWARDED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The proxy's own error body: MLflow's shape, so the MLflow client shows the message."""
    return JSONResponse({"error_code": code, "message": message}, status_code=status, headers=headers)


def _without_credentials(query: bytes) -> bytes:
    """The query minus ``api_key`` parameters: a key a caller put in the URL must not reach MLflow either."""
    kept = [part for part in query.split(b"&") if part and part.split(b"=", 1)[0].lower() != b"api_key"]
    return b"&".join(kept)


def _upstream_url(base: str, raw_path: str, query: bytes) -> httpx.URL:
    url = httpx.URL(base.rstrip("/"))
    # raw_path is "path?query" bytes as httpx sends them: no re-encoding on the way.
    return url.copy_with(raw_path=(url.raw_path.rstrip(b"/") + raw_path.encode("latin-1")
                                   + (b"?" + query if query else b"")))


def caller_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = request.headers.get("x-api-key", "").strip()
    return api_key or None


def create_app(settings: ProxySettings, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The proxy app; ``transport`` replaces the network in unit tests."""
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(connect=5.0, read=settings.mlflow_timeout_s, write=settings.mlflow_timeout_s, pool=5.0)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport) as client:
            state["client"] = client
            state["validator"] = Validator(settings, client)
            yield

    def client() -> httpx.AsyncClient:
        return state["client"]  # type: ignore[return-value]

    def validator() -> Validator:
        return state["validator"]  # type: ignore[return-value]

    async def health(request: Request) -> Response:
        parts: dict[str, dict[str, object]] = {}
        for name, url in (("mlflow", settings.mlflow_url), ("auth", settings.auth_url)):
            started = time.perf_counter()
            try:
                answer = await client().get(url.rstrip("/") + "/health", timeout=3.0)
                ok = answer.status_code == 200
                parts[name] = {"status": "healthy" if ok else "unhealthy", "http_status": answer.status_code}
            except httpx.HTTPError as exc:
                ok = False
                parts[name] = {"status": "unreachable", "error": type(exc).__name__}
            parts[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        healthy = all(part["status"] == "healthy" for part in parts.values())
        body = {"status": "healthy" if healthy else "unhealthy", **parts,
                "cache": {"hits": validator().hits, "misses": validator().misses}}
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def forward(request: Request) -> Response:
        key = caller_key(request)
        if key is None:
            return error(401, "UNAUTHENTICATED", "Send your API key as 'Authorization: Bearer <key>'.",
                         {"WWW-Authenticate": 'Bearer realm="hokusai"'})
        outcome = await validator().validate(key)
        if isinstance(outcome, Rejection):
            headers = {"WWW-Authenticate": 'Bearer realm="hokusai"'} if outcome.status == 401 else {}
            if outcome.retry_after:
                headers["Retry-After"] = outcome.retry_after
            return error(outcome.status, outcome.error_code, outcome.message, headers)
        return await _send_upstream(request, outcome)

    async def _send_upstream(request: Request, identity: Identity) -> Response:
        # The raw, still percent-encoded path goes upstream: decoding and re-encoding it would change
        # what MLflow sees (and a decoded control character is not even a valid URL).
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        raw = raw_path.decode("latin-1")
        mount = next(m for m in settings.mounts if raw == m or raw.startswith(m + "/"))
        upstream_path = raw[len(mount):] or "/"
        dropped = _HOP_BY_HOP if settings.forward_credentials else _DROP_REQUEST
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]
        headers += [("X-Hokusai-User-Id", identity.user_id), ("X-Hokusai-API-Key-Id", identity.key_id)]
        has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or "content-length" in request.headers
        upstream = client().build_request(
            request.method,
            # The query string goes through byte for byte: re-encoding it can change what MLflow parses.
            _upstream_url(settings.mlflow_url, upstream_path, _without_credentials(request.scope["query_string"])),
            headers=headers,
            content=request.stream() if has_body else None,
        )
        started = time.perf_counter()
        try:
            answer = await client().send(upstream, stream=True)
        except httpx.TimeoutException:
            return error(504, "GATEWAY_TIMEOUT", "MLflow did not answer in time.")
        except httpx.TransportError as exc:
            return error(502, "BAD_GATEWAY", f"MLflow is unreachable ({type(exc).__name__}).")
        response_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP_RESPONSE}

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                # Headers are gone already; all we can do is cut the body short, which the
                # client sees as an incomplete read rather than a silently truncated file.
                log.warning("MLflow broke off the response for %s %s: %s", request.method, upstream_path, exc)
                raise
            finally:
                await answer.aclose()

        async def after() -> None:
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            await _record_usage(identity, request.method, upstream_path, answer.status_code, elapsed_ms)

        return StreamingResponse(body(), status_code=answer.status_code, headers=response_headers,
                                 background=BackgroundTask(after))

    async def _record_usage(identity: Identity, method: str, path: str, status: int, elapsed_ms: int) -> None:
        record = {"service_id": settings.service_id, "endpoint": f"{method} {path}",
                  "status_code": status, "response_time_ms": elapsed_ms}
        url = f"{settings.auth_url.rstrip('/')}/api/v1/usage/{identity.key_id}"
        try:
            await client().post(url, json=record, timeout=settings.auth_timeout_s)
        except httpx.HTTPError as exc:  # fire and forget: usage must never fail a registration
            log.info("usage not recorded: %s", type(exc).__name__)

    routes = [Route(f"{mount}/health/mlflow", health, methods=["GET"]) for mount in settings.mounts]
    mounts = tuple(mount.rstrip("/") + "/" for mount in settings.mounts)

    async def under_a_mount(scope: Scope, receive: Receive, send: Send) -> None:
        # By prefix, not by a "{rest:path}" route: Starlette's path patterns do not match a newline
        # (%0A), and the proxy forwards every path under its mounts to MLflow unchanged.
        if scope["type"] != "http" or not str(scope["path"]).startswith(mounts):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        elif scope["method"] not in _FORWARDED_METHODS:
            await PlainTextResponse("Method Not Allowed", status_code=405)(scope, receive, send)
        else:
            await (await forward(Request(scope, receive)))(scope, receive, send)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.default = under_a_mount
    return app
