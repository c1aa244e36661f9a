"""Counters behind ``GET /metrics``: what the stack runner reads to see who called the fake.

The contract leaves the body free-form (``type: object``), so the shape is ours::

    {"validate_calls": N,
     "validate_by_outcome": {"valid": n, "missing_key": n, ...every Outcome, zeros included},
     "usage_records": N,
     "usage_by_service": {"platform": n, ...service_id as the caller sent it}}
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .verdict import Outcome

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.validate_by_outcome: Counter[Outcome] = Counter()
        self.usage_by_service: Counter[str] = Counter()

    def count_validate(self, outcome: Outcome) -> None:
        self.validate_by_outcome[outcome] += 1

    def count_usage(self, service_id: str) -> None:
        # Kept as sent: a consumer recording usage for "ml-platform" (incident 2) shows up here.
        self.usage_by_service[service_id] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "validate_calls": sum(self.validate_by_outcome.values()),
            # Every outcome listed, zeros included, so readers never meet a missing field.
            "validate_by_outcome": {o.value: self.validate_by_outcome[o] for o in Outcome},
            "usage_records": sum(self.usage_by_service.values()),
            "usage_by_service": dict(self.usage_by_service),
        }
