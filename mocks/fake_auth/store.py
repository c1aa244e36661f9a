"""The fake's memory: API key records and the usage recorded against them.

A key's state is derived, not stored: a key is revoked once it has a ``revoked_at``, expired once
``expires_at`` has passed, active otherwise. Keys created with ``expires_in_days`` therefore expire
on their own, exactly as seeded "expired" keys do.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = ["KeyRecord", "KeyState", "KeyStore", "UsageEntry", "new_key", "utcnow"]

_ALPHABET = string.ascii_letters + string.digits
#: What the service applies when APIKeyCreate.rate_limit_per_hour is null.
DEFAULT_RATE_LIMIT_PER_HOUR = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_key(environment: str = "production") -> str:
    """A fresh key: ``hk_live_`` (production) or ``hk_test_`` and 32 random letters and digits."""
    prefix = "hk_live_" if environment == "production" else "hk_test_"
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(32))


class KeyState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class UsageEntry:
    """One ``POST /api/v1/usage/{key_id}`` call as recorded (service_id as the caller sent it)."""

    recorded_at: datetime
    service_id: str
    endpoint: str
    status_code: int
    response_time_ms: int
    predictions_count: int = 0
    compute_ms: int = 0


@dataclass
class KeyRecord:
    """An issued key. ``key`` is the secret itself: never log it, mask it."""

    key: str
    key_id: uuid.UUID
    name: str
    user_id: str
    service_id: str
    scopes: list[str] = field(default_factory=list)
    environment: str = "production"
    created_at: datetime = field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    rate_limit_per_hour: int = DEFAULT_RATE_LIMIT_PER_HOUR
    monthly_prediction_limit: int | None = None
    allowed_ips: list[str] = field(default_factory=list)
    billing_plan: str = "free"
    usage: list[UsageEntry] = field(default_factory=list)

    def state(self, now: datetime | None = None) -> KeyState:
        now = now or utcnow()
        if self.revoked_at is not None:
            return KeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    @property
    def key_prefix(self) -> str:
        # The same 10 characters a masked key starts with, so people can match the two.
        return self.key[:10]


class KeyStore:
    """Every key the fake knows, by secret and by key_id."""

    def __init__(self) -> None:
        self._by_id: dict[uuid.UUID, KeyRecord] = {}
        self._by_key: dict[str, KeyRecord] = {}

    def add(self, record: KeyRecord) -> KeyRecord:
        if record.key_id in self._by_id:
            raise ValueError(f"key_id {record.key_id} is used twice; give each key its own key_id")
        if record.key in self._by_key:
            raise ValueError(f"key {record.name!r} reuses another key's secret; give each its own")
        self._by_id[record.key_id] = record
        self._by_key[record.key] = record
        return record

    def find(self, key: str) -> KeyRecord | None:
        return self._by_key.get(key)

    def get(self, key_id: uuid.UUID) -> KeyRecord | None:
        return self._by_id.get(key_id)

    def all(self) -> list[KeyRecord]:
        return list(self._by_id.values())

    def create(
        self,
        *,
        name: str,
        user_id: str,
        service_id: str,
        scopes: list[str] | None = None,
        environment: str = "production",
        expires_in_days: int | None = None,
        rate_limit_per_hour: int | None = None,
        monthly_prediction_limit: int | None = None,
        allowed_ips: list[str] | None = None,
        billing_plan: str = "free",
    ) -> KeyRecord:
        now = utcnow()
        expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
        return self.add(
            KeyRecord(
                key=new_key(environment),
                key_id=uuid.uuid4(),
                name=name,
                user_id=user_id,
                service_id=service_id,
                scopes=list(scopes or []),
                environment=environment,
                created_at=now,
                expires_at=expires_at,
                rate_limit_per_hour=rate_limit_per_hour or DEFAULT_RATE_LIMIT_PER_HOUR,
                monthly_prediction_limit=monthly_prediction_limit,
                allowed_ips=list(allowed_ips or []),
                billing_plan=billing_plan,
            )
        )

    def revoke(self, record: KeyRecord) -> None:
        # Idempotent: revoking twice keeps the first revocation time.
        if record.revoked_at is None:
            record.revoked_at = utcnow()

    def rotate(self, record: KeyRecord) -> KeyRecord:
        """Revoke ``record``; issue a new key with the same attributes and the same lifetime."""
        now = utcnow()
        lifetime = record.expires_at - record.created_at if record.expires_at else None
        self.revoke(record)
        return self.add(
            KeyRecord(
                key=new_key(record.environment),
                key_id=uuid.uuid4(),
                name=record.name,
                user_id=record.user_id,
                service_id=record.service_id,
                scopes=list(record.scopes),
                environment=record.environment,
                created_at=now,
                expires_at=now + lifetime if lifetime else None,
                rate_limit_per_hour=record.rate_limit_per_hour,
                monthly_prediction_limit=record.monthly_prediction_limit,
                allowed_ips=list(record.allowed_ips),
                billing_plan=record.billing_plan,
            )
        )
