"""Keys the probes make, like the real ones.

A key made through the fake's administration with only a name and a service has no scopes: a
proxy that checks scopes (as a real one may) would refuse it, and every probe using it would
report that refusal instead of what it probes. So probe keys copy the scopes, rate limit and plan
of the seeded third-party ``platform`` key (``primary`` in mocks/fake_auth/keys.yaml, or in the run's
SEED: production's primary is an admin, and a probe key must pass the same policy).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.files import seed_file

__all__ = ["PLATFORM_KEY_NAME", "platform_key_request", "platform_key_shape"]

#: The seeded key a real third-party developer's key looks like.
PLATFORM_KEY_NAME = "primary"
_SHAPE_FIELDS = ("scopes", "rate_limit_per_hour", "monthly_prediction_limit", "billing_plan", "environment")


@cache
def platform_key_shape(seed: Path | None = None) -> dict[str, Any]:
    """The scopes, rate limit and plan of the seeded ``platform`` key, read from ``seed`` (None: the packaged
    keys.yaml)."""
    text = (seed or seed_file()).read_text(encoding="utf-8")
    entries = (yaml.safe_load(text) or {}).get("keys") or []
    entry = next((e for e in entries if e.get("name") == PLATFORM_KEY_NAME), None)
    if entry is None or entry.get("service_id") != "platform":
        raise UsageError(f"{seed or 'keys.yaml'} has no platform key named {PLATFORM_KEY_NAME!r}: restore it")
    return {name: entry[name] for name in _SHAPE_FIELDS if name in entry}


def platform_key_request(name: str, seed: Path | None = None) -> dict[str, Any]:
    """The body of ``POST /api/v1/keys`` for a fresh key shaped like the seeded ``platform`` one."""
    return {"name": name, "service_id": "platform", **dict(platform_key_shape(seed))}
