"""``/api/v1/keys``: validating keys (no security) and administering them (admin token).

How each profile answers ``POST /api/v1/keys/validate``:

======================  ======================================  ===============================
outcome                 contract                                production
======================  ======================================  ===============================
valid                   200 ValidationResult, is_valid true     same
no usable key           api_key absent or null: 422 (FastAPI);  401 "API key required"
                        "": 200, is_valid false
unknown, expired,       200, is_valid false, with ``error``     401 "Invalid or expired API
revoked, other or                                               key"
unknown service, IP
not allowed, no scope
over the rate limit     200, is_valid false, with ``error``     429 "Rate limit exceeded"
malformed body          422 HTTPValidationError (FastAPI)       same
======================  ======================================  ===============================

The key is read from the JSON body only, never from a header: the contract declares no security
on validate, and a consumer that moves the key to ``Authorization`` (incident 1) must fail here
as it did in production.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from .admin import require_admin
from .mask import mask
from .rejections import Rejection
from .responses import SafeJSONResponse as JSONResponse
from .schemas import (
    APIKeyCreate,
    APIKeyInfo,
    APIKeyResponse,
    APIKeyValidation,
    LenientAPIKeyValidation,
    ValidationResult,
)
from .service import ServiceState, service_state
from .settings import Profile
from .store import KeyRecord, KeyState, utcnow
from .verdict import Outcome, Verdict, judge

__all__ = ["ADMIN_USER_ID", "build_keys_router", "key_info", "lookup"]

logger = logging.getLogger("hokusai_mocks.fake_auth")

#: The user keys created through the admin API belong to: the admin token stands for one admin.
ADMIN_USER_ID = "user-admin"

State = Annotated[ServiceState, Depends(service_state)]


def key_info(record: KeyRecord) -> APIKeyInfo:
    return APIKeyInfo(
        key_id=record.key_id,
        name=record.name,
        key_prefix=record.key_prefix,
        user_id=record.user_id,
        service_id=record.service_id,
        scopes=record.scopes,
        environment=record.environment,
        is_active=record.state() is KeyState.ACTIVE,
        rate_limit_per_hour=record.rate_limit_per_hour,
        monthly_prediction_limit=record.monthly_prediction_limit,
        billing_plan=record.billing_plan,
        created_at=record.created_at,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
    )


def lookup(state: ServiceState, key_id: uuid.UUID) -> KeyRecord:
    """The record for ``key_id``, or a 422 at ``path.key_id`` (the only refusal the contract documents)."""
    record = state.store.get(key_id)
    if record is None:
        raise Rejection(
            "API key not found: no key has this key_id (list them with GET /api/v1/keys)",
            loc=("path", "key_id"),
            kind="not_found",
            value=str(key_id),
        )
    return record


def _answer(state: ServiceState, verdict: Verdict) -> JSONResponse:
    state.metrics.count_validate(verdict.outcome)
    record = verdict.record
    if verdict.outcome is Outcome.VALID and record is not None:
        record.last_used_at = utcnow()
        result = ValidationResult(
            is_valid=True,
            key_id=str(record.key_id),
            user_id=record.user_id,
            service_id=record.service_id,
            scopes=record.scopes,
            rate_limit_per_hour=record.rate_limit_per_hour,
            billing_plan=record.billing_plan,
            monthly_prediction_limit=record.monthly_prediction_limit,
        )
        return JSONResponse(result.model_dump(mode="json"))
    if not state.production:
        result = ValidationResult(is_valid=False, error=verdict.message)
        return JSONResponse(result.model_dump(mode="json"))
    # Production answered every refusal with its own, undocumented status (incident 6).
    if verdict.outcome is Outcome.MISSING_KEY:
        return JSONResponse({"detail": "API key required"}, status_code=401)
    if verdict.outcome is Outcome.RATE_LIMITED:
        return JSONResponse(
            {"detail": "Rate limit exceeded"},
            status_code=429,
            headers={"Retry-After": str(verdict.retry_after_s)},
        )
    return JSONResponse({"detail": "Invalid or expired API key"}, status_code=401)


def _validate(state: ServiceState, body: APIKeyValidation, request: Request) -> JSONResponse:
    caller_ip = request.client.host if request.client else None
    verdict = judge(
        state.store,
        state.limiter,
        api_key=body.api_key,
        service_id=body.service_id,
        required_scope=body.required_scope,
        client_ip=body.client_ip or caller_ip,
    )
    shown = mask(body.api_key or "")
    if verdict.outcome is Outcome.UNKNOWN_SERVICE:
        # Worth a line at the default level: it is incident 2, a consumer's configuration error.
        logger.warning("validate %s asked for unknown service_id %r", shown, body.service_id)
    else:
        logger.info("validate %s service_id=%r: %s", shown, body.service_id, verdict.outcome.value)
    return _answer(state, verdict)


async def validate_api_key(body: APIKeyValidation, request: Request, state: State) -> JSONResponse:
    """Validate an API key and return user information (contract profile: api_key required)."""
    return _validate(state, body, request)


async def validate_api_key_lenient(
    body: LenientAPIKeyValidation, request: Request, state: State
) -> JSONResponse:
    """Validate an API key (production profile: a missing api_key is the service's own 401)."""
    return _validate(state, body, request)


async def create_api_key(body: APIKeyCreate, state: State) -> APIKeyResponse:
    record = state.store.create(
        name=body.name,
        user_id=ADMIN_USER_ID,
        service_id=body.service_id,
        scopes=body.scopes,
        environment=body.environment,
        expires_in_days=body.expires_in_days,
        rate_limit_per_hour=body.rate_limit_per_hour,
        monthly_prediction_limit=body.monthly_prediction_limit,
        allowed_ips=body.allowed_ips,
        billing_plan=body.billing_plan,
    )
    return APIKeyResponse(api_key=record.key, key_info=key_info(record))


async def list_api_keys(
    state: State, service_id: str | None = None, active_only: bool = False
) -> list[APIKeyInfo]:
    """Every key (the admin token sees all users' keys), optionally filtered."""
    records = state.store.all()
    if service_id is not None:
        records = [r for r in records if r.service_id == service_id]
    if active_only:
        records = [r for r in records if r.state() is KeyState.ACTIVE]
    return [key_info(r) for r in records]


async def get_api_key(key_id: uuid.UUID, state: State) -> APIKeyInfo:
    return key_info(lookup(state, key_id))


async def revoke_api_key(key_id: uuid.UUID, state: State) -> dict[str, str]:
    record = lookup(state, key_id)
    state.store.revoke(record)
    return {"message": "API key revoked", "key_id": str(record.key_id)}


async def rotate_api_key(key_id: uuid.UUID, state: State) -> APIKeyResponse:
    record = lookup(state, key_id)
    if record.state() is KeyState.REVOKED:
        raise Rejection(
            "Cannot rotate a revoked API key: create a new key with POST /api/v1/keys",
            loc=("path", "key_id"),
            kind="key_revoked",
            value=str(key_id),
        )
    fresh = state.store.rotate(record)
    return APIKeyResponse(api_key=fresh.key, key_info=key_info(fresh))


def build_keys_router(profile: Profile) -> APIRouter:
    """The key routes; the validate body model depends on the profile (see the module docstring)."""
    router = APIRouter(tags=["authentication"])
    validate = validate_api_key if profile == "contract" else validate_api_key_lenient
    router.add_api_route("/api/v1/keys/validate", validate, methods=["POST"])
    admin = [Depends(require_admin)]
    router.add_api_route("/api/v1/keys", create_api_key, methods=["POST"], dependencies=admin)
    router.add_api_route("/api/v1/keys", list_api_keys, methods=["GET"], dependencies=admin)
    router.add_api_route("/api/v1/keys/{key_id}", get_api_key, methods=["GET"], dependencies=admin)
    router.add_api_route(
        "/api/v1/keys/{key_id}", revoke_api_key, methods=["DELETE"], dependencies=admin
    )
    router.add_api_route(
        "/api/v1/keys/{key_id}/rotate", rotate_api_key, methods=["POST"], dependencies=admin
    )
    return router
