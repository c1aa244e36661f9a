"""Request and response bodies, field for field as contracts/auth-service.yaml declares them.

Request models are strict: a string where the contract says integer is a 422, as the contract
implies, rather than silently coerced. That way a consumer's type mistake shows up here too. One
exception keeps them faithful to JSON Schema: ``5.0`` is an integer there, so it is one here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "APIKeyCreate",
    "APIKeyInfo",
    "APIKeyResponse",
    "APIKeyValidation",
    "BillingInfo",
    "FaultChange",
    "LenientAPIKeyValidation",
    "UsageRecord",
    "UsageStats",
    "ValidationResult",
]

_STRICT = ConfigDict(strict=True)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer as JSON Schema means it: ``3`` and ``3.0``, not ``"3"``, ``3.5`` or ``true``.
JsonInt = Annotated[int, BeforeValidator(_integral)]


class APIKeyValidation(BaseModel):
    """Request to validate an API key (``api_key`` required, as the contract says)."""

    model_config = _STRICT

    api_key: str
    required_scope: str | None = None
    service_id: str | None = None
    client_ip: str | None = None


class LenientAPIKeyValidation(APIKeyValidation):
    """The production profile's reading: a missing key is the service's own 401, not a 422."""

    api_key: str | None = None  # type: ignore[assignment]


class APIKeyCreate(BaseModel):
    model_config = _STRICT

    name: Annotated[str, Field(min_length=1, max_length=100)]
    service_id: Annotated[str, Field(pattern=r"^(website|prediction|platform)$")]
    scopes: list[str] | None = None
    environment: Annotated[str, Field(pattern=r"^(production|test|development)$")] = "production"
    expires_in_days: Annotated[JsonInt, Field(ge=1, le=365)] | None = None
    rate_limit_per_hour: Annotated[JsonInt, Field(ge=10, le=100000)] | None = None
    monthly_prediction_limit: Annotated[JsonInt, Field(ge=0)] | None = None
    allowed_ips: list[str] | None = None
    billing_plan: str = "free"


class UsageRecord(BaseModel):
    model_config = _STRICT

    service_id: str
    endpoint: str
    status_code: JsonInt
    response_time_ms: JsonInt
    predictions_count: JsonInt = 0
    compute_ms: JsonInt = 0


class APIKeyInfo(BaseModel):
    key_id: uuid.UUID
    name: str
    key_prefix: str
    user_id: str
    service_id: str
    scopes: list[str]
    environment: str
    is_active: bool
    rate_limit_per_hour: int
    monthly_prediction_limit: int | None
    billing_plan: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class APIKeyResponse(BaseModel):
    api_key: str
    key_info: APIKeyInfo


class ValidationResult(BaseModel):
    is_valid: bool
    key_id: str | None = None
    user_id: str | None = None
    service_id: str | None = None
    scopes: list[str] | None = None
    rate_limit_per_hour: int | None = None
    billing_plan: str | None = None
    monthly_prediction_limit: int | None = None
    error: str | None = None


class UsageStats(BaseModel):
    key_id: uuid.UUID
    period: str
    total_requests: int
    total_predictions: int
    total_compute_ms: int
    average_response_time_ms: float
    error_rate: float
    top_endpoints: list[dict[str, Any]]


class BillingInfo(BaseModel):
    key_id: uuid.UUID
    billing_plan: str
    current_usage: dict[str, Any]
    monthly_limit: int | None
    overage_charges: float = 0.0
    next_billing_date: datetime | None


class FaultChange(BaseModel):
    """Body of the test-only ``POST /__fault__`` (not part of the contract)."""

    fault: Literal["none", "slow", "error", "down"]
    delay_s: Annotated[float, Field(ge=0, le=600)] | None = None
