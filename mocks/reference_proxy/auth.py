"""Key validation against the auth service, with a short-lived cache.

The cache is single-flight per key: when eight registrations start at once
with the same key, one validate call reaches the auth service and seven wait
for its answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from .settings import ProxySettings


@dataclass(frozen=True)
class Identity:
    key_id: str
    user_id: str


@dataclass(frozen=True)
class Rejection:
    """Why the proxy refuses the caller, as the status it will answer."""

    status: int
    error_code: str
    message: str
    retry_after: str | None = None


@dataclass
class _Entry:
    identity: Identity
    expires_at: float


@dataclass
class Validator:
    settings: ProxySettings
    client: httpx.AsyncClient
    _cache: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    async def validate(self, key: str) -> Identity | Rejection:
        entry = self._cache.get(key)
        if entry and entry.expires_at > time.monotonic():
            self.hits += 1
            return entry.identity
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._cache.get(key)
            if entry and entry.expires_at > time.monotonic():
                self.hits += 1
                return entry.identity
            self.misses += 1
            outcome = await self._ask_auth_service(key)
            if isinstance(outcome, Identity):
                self._cache[key] = _Entry(outcome, time.monotonic() + self.settings.cache_ttl_s)
            return outcome

    async def _ask_auth_service(self, key: str) -> Identity | Rejection:
        url = self.settings.auth_url.rstrip("/") + "/api/v1/keys/validate"
        # The auth contract (APIKeyValidation) wants the key in the JSON body and
        # declares no security on validate: incident 1 was sending it as a header.
        body = {"api_key": key, "service_id": self.settings.service_id}
        try:
            response = await self.client.post(url, json=body, timeout=self.settings.auth_timeout_s)
        except httpx.TimeoutException:
            return Rejection(504, "GATEWAY_TIMEOUT", "The auth service did not answer in time.")
        except httpx.TransportError:
            return Rejection(503, "SERVICE_UNAVAILABLE", "The auth service is unreachable.")
        return _interpret(response)


def _interpret(response: httpx.Response) -> Identity | Rejection:
    status = response.status_code
    if status == 200:
        try:
            result = response.json()
        except ValueError:
            return Rejection(503, "SERVICE_UNAVAILABLE", "The auth service answered a non-JSON 200.")
        if isinstance(result, dict) and result.get("is_valid") is True and result.get("key_id"):
            return Identity(key_id=str(result["key_id"]), user_id=str(result.get("user_id") or ""))
        error = result.get("error") if isinstance(result, dict) else None
        return Rejection(401, "UNAUTHENTICATED", str(error or "Invalid or expired API key."))
    if status in (401, 422):
        # The production service answers 401 {"detail": ...}; the published contract
        # answers 200 is_valid=false or 422 for a malformed body. Both mean: bad key.
        return Rejection(401, "UNAUTHENTICATED", "Invalid or expired API key.")
    if status == 403:
        return Rejection(403, "PERMISSION_DENIED", "The API key may not use the MLflow registry.")
    if status == 429:
        retry_after = response.headers.get("Retry-After", "60")
        return Rejection(429, "RESOURCE_EXHAUSTED", "Rate limit exceeded for this API key.", retry_after)
    return Rejection(503, "SERVICE_UNAVAILABLE", f"The auth service answered {status}.")
