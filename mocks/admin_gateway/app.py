"""The gateway as an ASGI app: every call but health needs a registry admin's key.

What ``contracts/mlflow-gateway.overlay.yaml`` declares, the way production's gateway
(hokusai-data-pipeline's hokusai_mlflow_admin_gateway.py) behaves: the key from
``Authorization: Bearer`` or ``X-API-Key``; validated with the auth service for the service id
``platform``; admin only (``is_admin``, or an admin scope or role); ``/health`` (and under the prefix)
open, answered by the gateway itself; refusals as JSON ``{"detail": ...}`` with 401, 403 or 503. Unlike
production's, it asks the auth service as the auth contract says (the key in the body), since a
reference part follows the contracts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from starlette.types import Receive, Scope, Send

log = logging.getLogger("hokusai_mocks.admin_gateway")

#: The scopes and roles that make a registry admin (production's REGISTRY_ADMIN_SCOPES default).
ADMIN_SCOPES = frozenset({"admin", "mlflow:admin", "registry:admin", "model-registry:admin"})
ADMIN_REQUIRED = {"detail": "Admin access required for the model registry", "error": "REGISTRY_ADMIN_REQUIRED"}
# One connection's headers (RFC 9110 section 7.6.1): not forwarded either way.
_HOP_BY_HOP = {"host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
               "transfer-encoding"}


@dataclass(frozen=True)
class Verdict:
    """What the auth service said of a key: admitted, or the gateway's answer instead."""

    status: int
    detail: dict[str, str] = field(default_factory=dict)
    retry_after: str | None = None


async def _json(send: Send, verdict: Verdict) -> None:
    body = json.dumps(verdict.detail).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if verdict.retry_after:
        headers.append((b"retry-after", verdict.retry_after.encode()))
    await send({"type": "http.response.start", "status": verdict.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def caller_key(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def judge_validation(response: httpx.Response) -> Verdict:
    """The auth service's answer as the gateway's own: 200 to go on, else its refusal."""
    if response.status_code == 200:
        try:
            result = response.json()
        except ValueError:
            return Verdict(503, {"detail": "Authentication service error"}, "1")
        if not isinstance(result, dict) or result.get("is_valid") is not True:
            return Verdict(401, {"detail": "Invalid or expired API key"})
        granted = set(result.get("scopes") or []) | set(result.get("roles") or [])
        return Verdict(200) if result.get("is_admin") is True or granted & ADMIN_SCOPES else \
            Verdict(403, dict(ADMIN_REQUIRED))
    if response.status_code in (401, 403, 422):
        return Verdict(401, {"detail": "Invalid or expired API key"})
    if response.status_code == 429:
        return Verdict(401, {"detail": "Rate limit exceeded"})
    return Verdict(503, {"detail": "Authentication service unavailable"}, "1")


class AdminGateway:
    """Admits registry admins to the MLflow server at ``mlflow_url``; answers the rest itself."""

    def __init__(self, mlflow_url: str, auth_url: str, service_id: str, prefix: str,
                 client: httpx.AsyncClient | None = None) -> None:
        # Made on the first request when not given: an AsyncClient belongs to the loop that runs it.
        self._client = client
        self.mlflow_url = mlflow_url.rstrip("/")
        self.validate_url = auth_url.rstrip("/") + "/api/v1/keys/validate"
        self.service_id = service_id
        self.prefix = prefix
        # Open without a key, as production's MLFLOW_ADMIN_AUTH_HEALTH_PATHS (MLflow's health is under its prefix).
        self.open_paths = {"/health", f"{prefix}/health"}

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(connect=5.0, read=300.0, write=300.0, pool=5.0),
                                             limits=httpx.Limits(max_connections=64))
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: nothing served
        if scope["path"] in self.open_paths:
            await _json(send, Verdict(200, {"status": "ok"}))  # the gateway's own answer, as production's
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] != "OPTIONS":
            key = caller_key(headers)
            verdict = Verdict(401, {"detail": "API key required"}) if key is None else await self.validate(key)
            if verdict.status != 200:
                await _json(send, verdict)
                return
        await self.forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Nothing to set up; at shutdown the client's connections are closed on the loop that opened them."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                    self._client = None
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def validate(self, key: str) -> Verdict:
        try:
            response = await self.client.post(self.validate_url, json={"api_key": key, "service_id": self.service_id},
                                              timeout=5.0)
        except httpx.HTTPError as exc:
            log.warning("auth service unreachable: %s", type(exc).__name__)
            return Verdict(503, {"detail": "Authentication service unavailable"}, "1")
        return judge_validation(response)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every path as it came: MLflow serves its own static prefix (production's gateway wraps the app).
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        url = httpx.URL(self.mlflow_url).copy_with(raw_path=raw_path + (b"?" + query if query else b""))
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in _HOP_BY_HOP]

        async def body() -> AsyncIterator[bytes]:
            more = True
            while more:
                message = await receive()
                more = bool(message.get("more_body"))
                if message.get("body"):
                    yield message["body"]

        has_body = scope["method"] not in ("GET", "HEAD", "OPTIONS") or any(k == b"content-length" for k, _ in headers)
        request = self.client.build_request(scope["method"], url, headers=headers,
                                            content=body() if has_body else None)
        try:
            answer = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _json(send, Verdict(503, {"detail": f"MLflow is unreachable ({type(exc).__name__})"}, "1"))
            return
        try:
            kept = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.multi_items()
                    if k.lower() not in _HOP_BY_HOP]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": kept})
            async for chunk in answer.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await answer.aclose()
