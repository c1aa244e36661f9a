"""Seeding the store from a fixture, and telling the runner which secrets it got.

The packaged ``keys.yaml`` holds key descriptions only; every start generates fresh secrets. A seed
file given with ``--seed`` has the same shape and may pin a secret with ``key:``. The state file is
how a process runner learns the generated secrets and the admin token::

    {"keys": [{"name": ..., "key": ..., "key_id": ..., "service_id": ..., "state": ...}, ...],
     "admin_token": ..., "base_url": "http://127.0.0.1:PORT"}

It is written with mode 0600, atomically (a reader never sees half a file).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .settings import KEY_PATTERN, FakeAuthSettings
from .store import DEFAULT_RATE_LIMIT_PER_HOUR, KeyRecord, KeyStore, new_key, utcnow

__all__ = ["PRIMARY", "SeedError", "SeedKey", "build_store", "completed_seed", "load_seed", "write_state_file"]

# Fixed so the same description always gets the same key_id when the file leaves it out.
_KEY_ID_NAMESPACE = uuid.UUID("6a1f3c52-8f0e-4c55-9d2e-6b8f0a1d7e11")
#: Who owns keys given on the command line.
CLI_USER_ID = "user-cli"


class SeedError(ValueError):
    """A seed file that cannot be used; the message names the file, the entry and the fix."""


class SeedKey(BaseModel):
    """One key description in a seed file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    key_id: uuid.UUID | None = None
    user_id: str = "user-seed"
    service_id: Literal["website", "prediction", "platform"]
    state: Literal["active", "expired", "revoked"] = "active"
    scopes: list[str] = Field(default_factory=list)
    environment: Literal["production", "test", "development"] = "production"
    rate_limit_per_hour: int = Field(default=DEFAULT_RATE_LIMIT_PER_HOUR, ge=1)
    monthly_prediction_limit: int | None = Field(default=None, ge=0)
    allowed_ips: list[str] = Field(default_factory=list)
    billing_plan: str = "free"
    expires_at: datetime | None = None
    key: str | None = None

    @field_validator("key")
    @classmethod
    def _key_format(cls, value: str | None) -> str | None:
        if value is not None and not KEY_PATTERN.fullmatch(value):
            raise ValueError(
                "must be hk_live_ or hk_test_ followed by exactly 32 letters and digits"
            )
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A naive time in a fixture means UTC; mixing naive and aware times would fail later.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=utcnow().tzinfo)
        return value


def _describe(exc: ValidationError) -> str:
    # Built from loc and msg only: pydantic's own text repeats the input, which may be a secret.
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or 'entry'}: {err['msg']}"
        for err in exc.errors()
    )


def load_seed(path: Path | None = None) -> list[SeedKey]:
    """Read a seed file (YAML or JSON); ``None`` reads the packaged ``keys.yaml``."""
    if path is None:
        text = resources.files(__package__).joinpath("keys.yaml").read_text(encoding="utf-8")
        where = "the packaged keys.yaml"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SeedError(f"cannot read seed file {where}: {exc.strerror}; check --seed") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SeedError(f"seed file {where} is not valid YAML or JSON{line}: {problem}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise SeedError(
            f"seed file {where} must be a mapping with a `keys:` list of key descriptions"
        )
    entries: list[SeedKey] = []
    for index, raw in enumerate(data["keys"], start=1):
        label = raw.get("name", "?") if isinstance(raw, dict) else "?"
        try:
            entries.append(SeedKey.model_validate(raw))
        except ValidationError as exc:
            raise SeedError(
                f"seed file {where}, key #{index} ({label!r}): {_describe(exc)}"
            ) from exc
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SeedError(
            f"seed file {where}: names {duplicates} are used twice; names must be unique"
        )
    return entries


#: The key a run's scenario uses; a seed of one's own must have it, active and for ``platform``.
PRIMARY = "primary"


def completed_seed(path: Path) -> list[SeedKey]:
    """A seed file's keys, plus every packaged key it lacks (by name), with the scopes of its primary.

    The probes and faults of a run ask for keys by name (expired, revoked, website, limited...). A
    seed describing production's keys (an admin-scoped primary) need not repeat them: they follow
    its primary's scopes, so a proxy or gateway that grants by scope treats them as it treats the
    primary, and each probe still meets only the defect it is about (expiry, revocation, service).
    """
    entries = load_seed(path)
    primary = next((entry for entry in entries if entry.name == PRIMARY), None)
    if primary is None or primary.service_id != "platform" or primary.state != "active":
        raise SeedError(
            f"seed file {path}: needs an active `platform` key named {PRIMARY!r}: the key the run's "
            "scenario registers with (add `- name: primary` with `service_id: platform`)"
        )
    named = {entry.name for entry in entries}
    added = [
        entry.model_copy(update={"scopes": list(primary.scopes)})
        for entry in load_seed(None)
        if entry.name not in named
    ]
    return [*entries, *added]


def _record(entry: SeedKey) -> KeyRecord:
    now = utcnow()
    expires_at = entry.expires_at
    if entry.state == "expired" and (expires_at is None or expires_at > now):
        expires_at = now - timedelta(days=1)
    if entry.state != "expired" and expires_at is not None and expires_at <= now:
        raise SeedError(
            f"seed key {entry.name!r} is {entry.state} but its expires_at is in the past: "
            "set state: expired, or a later expires_at"
        )
    return KeyRecord(
        key=entry.key or new_key(entry.environment),
        key_id=entry.key_id or uuid.uuid5(_KEY_ID_NAMESPACE, entry.name),
        name=entry.name,
        user_id=entry.user_id,
        service_id=entry.service_id,
        scopes=list(entry.scopes),
        environment=entry.environment,
        created_at=now - timedelta(days=30),
        expires_at=expires_at,
        revoked_at=now if entry.state == "revoked" else None,
        rate_limit_per_hour=entry.rate_limit_per_hour,
        monthly_prediction_limit=entry.monthly_prediction_limit,
        allowed_ips=list(entry.allowed_ips),
        billing_plan=entry.billing_plan,
    )


def build_store(settings: FakeAuthSettings) -> KeyStore:
    """The store a fresh fake starts with: the seed file's keys, then the ``--api-key`` ones."""
    store = KeyStore()
    try:
        seeded = completed_seed(settings.seed_file) if settings.seed_file and settings.probe_keys_from_primary \
            else load_seed(settings.seed_file)
        for entry in seeded:
            store.add(_record(entry))
        for number, (key, service_id) in enumerate(settings.extra_keys(), start=1):
            store.add(
                KeyRecord(
                    key=key,
                    key_id=uuid.uuid4(),
                    name=f"cli-{number}",
                    user_id=CLI_USER_ID,
                    service_id=service_id,
                    scopes=["read", "write"],
                    environment="production" if key.startswith("hk_live_") else "test",
                )
            )
    except SeedError:
        raise
    except ValueError as exc:  # duplicates detected by the store
        raise SeedError(str(exc)) from exc
    return store


def state_document(store: KeyStore, admin_token: str, base_url: str | None) -> dict[str, Any]:
    keys = [
        {
            "name": record.name,
            "key": record.key,
            "key_id": str(record.key_id),
            "service_id": record.service_id,
            "state": record.state().value,
        }
        for record in store.all()
    ]
    return {"keys": keys, "admin_token": admin_token, "base_url": base_url}


def write_state_file(
    path: Path, store: KeyStore, admin_token: str, base_url: str | None = None
) -> None:
    """Write the state document to ``path`` with mode 0600, replacing any older file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created 0600 from the start: the file holds live secrets for as long as the fake runs.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state_document(store, admin_token, base_url), handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)
