"""``/api/v1/usage``: recording usage (no security, as the contract says) and reading it (admin).

Numbers come from callers and may be absurd (a fuzzer sends 10**30 ms); every float computed from
them is clamped to the largest finite float, because JSON has no infinity and a response that
cannot be encoded would be a 500.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from .admin import require_admin
from .routes_keys import lookup
from .schemas import BillingInfo, UsageRecord, UsageStats
from .service import ServiceState, service_state
from .store import UsageEntry, utcnow

__all__ = ["build_usage_router"]

State = Annotated[ServiceState, Depends(service_state)]
#: What one prediction over the monthly limit costs on every plan of the fake.
OVERAGE_PER_PREDICTION = 0.001
_FLOAT_MAX = sys.float_info.max


def _finite(numerator: int | float, denominator: int = 1) -> float:
    try:
        return max(-_FLOAT_MAX, min(_FLOAT_MAX, numerator / denominator))
    except OverflowError:
        return _FLOAT_MAX if (numerator >= 0) == (denominator >= 0) else -_FLOAT_MAX


def _month(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def _aware(moment: datetime | None) -> datetime | None:
    # The contract's date-time may come without an offset; read it as UTC rather than fail on
    # comparing naive and aware times.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    try:
        return (start is None or moment >= start) and (end is None or moment <= end)
    except OverflowError:  # offsets that push a bound past year 9999: treat it as unbounded
        return True


async def record_usage(key_id: uuid.UUID, body: UsageRecord, state: State) -> dict[str, str]:
    """Record one call; the caller's service_id is kept as sent, not checked against the key."""
    record = lookup(state, key_id)
    record.usage.append(
        UsageEntry(
            recorded_at=utcnow(),
            service_id=body.service_id,
            endpoint=body.endpoint,
            status_code=body.status_code,
            response_time_ms=body.response_time_ms,
            predictions_count=body.predictions_count,
            compute_ms=body.compute_ms,
        )
    )
    state.metrics.count_usage(body.service_id)
    return {"status": "recorded", "key_id": str(record.key_id)}


async def get_usage_stats(
    key_id: uuid.UUID,
    state: State,
    # [0-9], not \d: the contract's pattern is ECMA-262, where \d means ASCII digits only.
    period: Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}$")] = None,
) -> UsageStats:
    record = lookup(state, key_id)
    period = period or _month(utcnow())
    entries = [e for e in record.usage if _month(e.recorded_at) == period]
    total = len(entries)
    endpoints = Counter(e.endpoint for e in entries)
    return UsageStats(
        key_id=record.key_id,
        period=period,
        total_requests=total,
        total_predictions=sum(e.predictions_count for e in entries),
        total_compute_ms=sum(e.compute_ms for e in entries),
        average_response_time_ms=_finite(sum(e.response_time_ms for e in entries), total or 1),
        error_rate=_finite(sum(1 for e in entries if e.status_code >= 400), total or 1),
        top_endpoints=[{"endpoint": e, "count": n} for e, n in endpoints.most_common(10)],
    )


async def get_billing_info(key_id: uuid.UUID, state: State) -> BillingInfo:
    record = lookup(state, key_id)
    now = utcnow()
    entries = [e for e in record.usage if _month(e.recorded_at) == _month(now)]
    predictions = sum(e.predictions_count for e in entries)
    limit = record.monthly_prediction_limit
    over = max(0, predictions - limit) if limit is not None else 0
    # Day 28 plus 4 days is always in the next month, whatever this month's length.
    next_month = (now.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return BillingInfo(
        key_id=record.key_id,
        billing_plan=record.billing_plan,
        current_usage={
            "requests": len(entries),
            "predictions": predictions,
            "compute_ms": sum(e.compute_ms for e in entries),
        },
        monthly_limit=limit,
        overage_charges=_finite(over) * OVERAGE_PER_PREDICTION,
        next_billing_date=next_month,
    )


async def get_aggregate_usage(
    state: State,
    service_id: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> dict[str, Any]:
    """Usage over every key; ``service_id`` filters on the service_id recorded with the usage."""
    start, end = _aware(start_date), _aware(end_date)
    entries = [
        (record.key_id, entry)
        for record in state.store.all()
        for entry in record.usage
        if (service_id is None or entry.service_id == service_id)
        and _within(entry.recorded_at, start, end)
    ]
    by_service = Counter(entry.service_id for _, entry in entries)
    return {
        "service_id": service_id,
        "start_date": start.isoformat() if start else None,
        "end_date": end.isoformat() if end else None,
        "total_requests": len(entries),
        "total_predictions": sum(entry.predictions_count for _, entry in entries),
        "total_compute_ms": sum(entry.compute_ms for _, entry in entries),
        "unique_keys": len({key_id for key_id, _ in entries}),
        "by_service": dict(by_service),
    }


def build_usage_router() -> APIRouter:
    router = APIRouter(tags=["usage"])
    admin = [Depends(require_admin)]
    # Declared before /{key_id}/... only for readability: the paths cannot collide.
    router.add_api_route(
        "/api/v1/usage/aggregate", get_aggregate_usage, methods=["GET"], dependencies=admin
    )
    router.add_api_route("/api/v1/usage/{key_id}", record_usage, methods=["POST"])
    router.add_api_route(
        "/api/v1/usage/{key_id}/stats", get_usage_stats, methods=["GET"], dependencies=admin
    )
    router.add_api_route(
        "/api/v1/usage/{key_id}/billing", get_billing_info, methods=["GET"], dependencies=admin
    )
    return router
