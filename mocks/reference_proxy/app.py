"""The reference proxy as an ASGI app.

It does what ``shared/reference/topology.md`` says the production proxy does:
take the caller's key from ``Authorization: Bearer`` (or ``X-API-Key``),
validate it with the auth service, forward the call to MLflow without the
caller's credentials but with ``X-Hokusai-User-Id`` / ``X-Hokusai-API-Key-Id``,
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
_DROP_REQUEST = {
    "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
    "transfer-encoding", "authorization", "x-api-key", "proxy-authorization",
}
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


class ReferenceProxy:
    """The proxy app; ``transport`` replaces the network in unit tests.

    ``running()`` opens its HTTP client and the key validator on it (the lifespan does, under a server).
    """

    def __init__(self, settings: ProxySettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._validator: Validator | None = None
        self._mounts = tuple(mount.rstrip("/") + "/" for mount in settings.mounts)
        routes = [Route(f"{mount}/health/mlflow", self._health, methods=["GET"]) for mount in settings.mounts]
        self._app = Starlette(routes=routes, lifespan=self._lifespan)
        self._app.router.default = self._under_a_mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        settings = self.settings
        timeout = httpx.Timeout(connect=5.0, read=settings.mlflow_timeout_s, write=settings.mlflow_timeout_s, pool=5.0)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, transport=self._transport) as client:
            self._client, self._validator = client, Validator(settings, client)
            try:
                yield
            finally:
                self._client = self._validator = None

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the reference proxy is not running: enter running() (or serve it)")
        return self._client

    @property
    def validator(self) -> Validator:
        if self._validator is None:
            raise RuntimeError("the reference proxy is not running: enter running() (or serve it)")
        return self._validator

    async def _under_a_mount(self, scope: Scope, receive: Receive, send: Send) -> None:
        # By prefix, not by a "{rest:path}" route: Starlette's path patterns do not match a newline
        # (%0A), and the proxy forwards every path under its mounts to MLflow unchanged.
        if scope["type"] != "http" or not str(scope["path"]).startswith(self._mounts):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        elif scope["method"] not in _FORWARDED_METHODS:
            await PlainTextResponse("Method Not Allowed", status_code=405)(scope, receive, send)
        else:
            await (await self._forward(Request(scope, receive)))(scope, receive, send)

    async def _health(self, request: Request) -> Response:
        parts: dict[str, dict[str, object]] = {}
        for name, url in (("mlflow", self.settings.mlflow_url), ("auth", self.settings.auth_url)):
            parts[name] = await self._part_health(url)
        healthy = all(part["status"] == "healthy" for part in parts.values())
        body = {"status": "healthy" if healthy else "unhealthy", **parts,
                "cache": {"hits": self.validator.hits, "misses": self.validator.misses}}
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def _part_health(self, url: str) -> dict[str, object]:
        started = time.perf_counter()
        part: dict[str, object]
        try:
            answer = await self.client.get(url.rstrip("/") + "/health", timeout=3.0)
            ok = answer.status_code == 200
            part = {"status": "healthy" if ok else "unhealthy", "http_status": answer.status_code}
        except httpx.HTTPError as exc:
            part = {"status": "unreachable", "error": type(exc).__name__}
        part["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return part

    async def _forward(self, request: Request) -> Response:
        key = caller_key(request)
        if key is None:
            return error(401, "UNAUTHENTICATED", "Send your API key as 'Authorization: Bearer <key>'.",
                         {"WWW-Authenticate": 'Bearer realm="hokusai"'})
        outcome = await self.validator.validate(key)
        if isinstance(outcome, Rejection):
            headers = {"WWW-Authenticate": 'Bearer realm="hokusai"'} if outcome.status == 401 else {}
            if outcome.retry_after:
                headers["Retry-After"] = outcome.retry_after
            return error(outcome.status, outcome.error_code, outcome.message, headers)
        return await self._send_upstream(request, outcome)

    def _upstream_path(self, request: Request) -> str:
        """The path below the mount, raw: still percent-encoded.

        Decoding and re-encoding it would change what MLflow sees (and a decoded control character
        is not even a valid URL).
        """
        raw = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
        mount = next(m for m in self.settings.mounts if raw == m or raw.startswith(m + "/"))
        return raw[len(mount):] or "/"

    async def _send_upstream(self, request: Request, identity: Identity) -> Response:
        upstream_path = self._upstream_path(request)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
        headers += [("X-Hokusai-User-Id", identity.user_id), ("X-Hokusai-API-Key-Id", identity.key_id)]
        has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or "content-length" in request.headers
        upstream = self.client.build_request(
            request.method,
            # The query string goes through byte for byte: re-encoding it can change what MLflow parses.
            _upstream_url(self.settings.mlflow_url, upstream_path, _without_credentials(request.scope["query_string"])),
            headers=headers,
            content=request.stream() if has_body else None,
        )
        started = time.perf_counter()
        try:
            answer = await self.client.send(upstream, stream=True)
        except httpx.TimeoutException:
            return error(504, "GATEWAY_TIMEOUT", "MLflow did not answer in time.")
        except httpx.TransportError as exc:
            return error(502, "BAD_GATEWAY", f"MLflow is unreachable ({type(exc).__name__}).")
        response_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP_RESPONSE}

        async def after() -> None:
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            await self._record_usage(identity, request.method, upstream_path, answer.status_code, elapsed_ms)

        return StreamingResponse(_relayed(answer, f"{request.method} {upstream_path}"), status_code=answer.status_code,
                                 headers=response_headers, background=BackgroundTask(after))

    async def _record_usage(self, identity: Identity, method: str, path: str, status: int, elapsed_ms: int) -> None:
        record = {"service_id": self.settings.service_id, "endpoint": f"{method} {path}",
                  "status_code": status, "response_time_ms": elapsed_ms}
        url = f"{self.settings.auth_url.rstrip('/')}/api/v1/usage/{identity.key_id}"
        try:
            await self.client.post(url, json=record, timeout=self.settings.auth_timeout_s)
        except httpx.HTTPError as exc:  # fire and forget: usage must never fail a registration
            log.info("usage not recorded: %s", type(exc).__name__)


async def _relayed(answer: httpx.Response, call: str) -> AsyncIterator[bytes]:
    """MLflow's answer body as it comes, the upstream response closed at the end."""
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # Headers are gone already; all we can do is cut the body short, which the
        # client sees as an incomplete read rather than a silently truncated file.
        log.warning("MLflow broke off the response for %s: %s", call, exc)
        raise
    finally:
        await answer.aclose()
