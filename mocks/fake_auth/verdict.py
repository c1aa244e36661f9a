"""Judging one validate request: which outcome, and why, independent of how it is answered.

The profiles differ only in how a verdict is answered (app.py); the judgement is the same. Order of
the checks: a usable key, a known key, not revoked, not expired, a service the auth service issues
keys for, the key's own service, the client IP, the scope, the rate limit.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from .settings import SERVICES
from .store import KeyRecord, KeyState, KeyStore

__all__ = ["Outcome", "RateLimiter", "Verdict", "judge"]

_HOUR_S = 3600.0


class Outcome(StrEnum):
    """Every way a validate call can end; /metrics counts calls per outcome."""

    VALID = "valid"
    MISSING_KEY = "missing_key"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNKNOWN_SERVICE = "unknown_service"
    WRONG_SERVICE = "wrong_service"
    IP_NOT_ALLOWED = "ip_not_allowed"
    MISSING_SCOPE = "missing_scope"
    RATE_LIMITED = "rate_limited"
    #: A body FastAPI rejected with 422 before the handler ran.
    MALFORMED = "malformed"
    #: Answered by an injected fault, not by the service.
    FAULT_ERROR = "fault_error"
    FAULT_DOWN = "fault_down"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    #: Why, for the ValidationResult's ``error``; never contains the key.
    message: str = ""
    record: KeyRecord | None = None
    #: Seconds until the rate limit lets this key through again.
    retry_after_s: int = 0


class RateLimiter:
    """A sliding one-hour window of successful validations per key."""

    def __init__(self) -> None:
        self._hits: dict[uuid.UUID, deque[float]] = {}

    def admit(self, record: KeyRecord, now: float | None = None) -> int:
        """Count one use of ``record``; return 0, or the seconds to wait when over its limit."""
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(record.key_id, deque())
        while hits and hits[0] <= now - _HOUR_S:
            hits.popleft()
        if len(hits) >= record.rate_limit_per_hour:
            return max(1, int(hits[0] + _HOUR_S - now))
        hits.append(now)
        return 0


def _ip_allowed(allowed: list[str], ip: str | None) -> bool:
    if not allowed:
        return True
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a malformed allow-list entry admits nobody
    return False


def judge(
    store: KeyStore,
    limiter: RateLimiter,
    *,
    api_key: str | None,
    service_id: str | None,
    required_scope: str | None = None,
    client_ip: str | None = None,
) -> Verdict:
    """Decide a validate request; ``service_id`` None means any service (the contract allows it)."""
    if not api_key or not api_key.strip():
        return Verdict(Outcome.MISSING_KEY, "API key required: send it as api_key in the JSON body")
    record = store.find(api_key)
    if record is None:
        return Verdict(Outcome.UNKNOWN_KEY, "Invalid API key: no such key")
    state = record.state()
    if state is KeyState.REVOKED:
        return Verdict(Outcome.REVOKED, "API key has been revoked", record)
    if state is KeyState.EXPIRED:
        return Verdict(Outcome.EXPIRED, "API key has expired", record)
    if service_id is not None and service_id not in SERVICES:
        return Verdict(
            Outcome.UNKNOWN_SERVICE,
            f"Unknown service_id {service_id!r}: keys are issued for {', '.join(SERVICES)}; "
            f"this key belongs to {record.service_id!r}",
            record,
        )
    if service_id is not None and service_id != record.service_id:
        return Verdict(
            Outcome.WRONG_SERVICE,
            f"API key belongs to service {record.service_id!r}, not {service_id!r}",
            record,
        )
    if not _ip_allowed(record.allowed_ips, client_ip):
        return Verdict(Outcome.IP_NOT_ALLOWED, f"Client IP {client_ip!r} is not allowed", record)
    if required_scope is not None and required_scope not in record.scopes:
        return Verdict(Outcome.MISSING_SCOPE, f"API key lacks scope {required_scope!r}", record)
    retry_after = limiter.admit(record)
    if retry_after:
        return Verdict(
            Outcome.RATE_LIMITED,
            f"Rate limit exceeded: {record.rate_limit_per_hour} validations per hour",
            record,
            retry_after,
        )
    return Verdict(Outcome.VALID, "", record)
