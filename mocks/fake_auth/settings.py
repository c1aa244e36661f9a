"""The fake auth service's settings: one typed object, read in one place.

Explicit values (the command line, or keyword arguments in tests) take precedence over the
``FAKE_AUTH_*`` environment variables, which take precedence over the defaults.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "KEY_PATTERN",
    "SERVICES",
    "Fault",
    "FakeAuthSettings",
    "Profile",
    "parse_key_spec",
]

#: The services the auth service issues keys for: APIKeyCreate.service_id's pattern in the contract.
SERVICES: tuple[str, ...] = ("website", "prediction", "platform")
#: A Hokusai API key: ``hk_live_`` or ``hk_test_`` followed by 32 letters and digits.
KEY_PATTERN = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")

#: ``contract`` answers only the statuses the published document lists; ``production`` answers as
#: the real service did (undocumented 401 and 429 on validate, 403/401/404 on administration).
Profile = Literal["contract", "production"]
#: ``none``; ``slow``: validate waits ``fault_delay_s``; ``error``: validate answers 500;
#: ``down``: everything answers the load balancer's 503 page.
Fault = Literal["none", "slow", "error", "down"]


def parse_key_spec(spec: str) -> tuple[str, str]:
    """Split ``KEY`` or ``KEY@SERVICE`` into ``(key, service)``; the service defaults to platform.

    Raises ``ValueError`` with a message that never repeats the key whole.
    """
    key, _, service = spec.partition("@")
    service = service or "platform"
    if not KEY_PATTERN.fullmatch(key):
        shown = f"{key[:10]}..." if len(key) > 10 else "<too short>"
        raise ValueError(
            f"extra API key {shown} is not a Hokusai key: use hk_live_ or hk_test_ followed by "
            "exactly 32 letters and digits, optionally with @SERVICE (e.g. KEY@platform)"
        )
    if service not in SERVICES:
        raise ValueError(
            f"extra API key for unknown service {service!r}: the auth service issues keys for "
            f"{', '.join(SERVICES)}"
        )
    return key, service


class FakeAuthSettings(BaseSettings):
    """Everything the fake auth service can be told, with the ``FAKE_AUTH_`` env prefix."""

    model_config = SettingsConfigDict(env_prefix="FAKE_AUTH_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    # Random per start unless given, so a forgotten fake never runs with a guessable token.
    admin_token: str = Field(
        default_factory=lambda: "fake-admin-" + secrets.token_urlsafe(24), min_length=1
    )
    profile: Profile = "contract"
    # None: the packaged fixture keys.yaml (descriptions only; keys are generated per start).
    seed_file: Path | None = None
    # A run's own seed (SEED=path): the packaged probe keys it lacks are added with its primary's scopes.
    probe_keys_from_primary: bool = False
    # NoDecode: the env var may be a plain comma-separated list, not only JSON.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fault: Fault = "none"
    fault_delay_s: float = Field(default=10.0, ge=0, le=600)
    state_file: Path | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_api_keys(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: list[str]) -> list[str]:
        for spec in value:
            parse_key_spec(spec)
        return value

    def extra_keys(self) -> list[tuple[str, str]]:
        """The ``--api-key`` values as ``(key, service)`` pairs."""
        return [parse_key_spec(spec) for spec in self.api_keys]
