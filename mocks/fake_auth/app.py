"""The fake auth service: every operation of contracts/auth-service.yaml, in memory.

``create_app(settings)`` builds one independent service (its own keys, counters and fault), so
tests can hold several side by side. Layers, outermost first::

    FaultInjection (faults.py)  ->  NeverServerError (guard.py)  ->  FastAPI routes
                                                                     routes_health / _keys / _usage

Profiles (settings.profile):

- ``contract`` answers only the statuses the published document lists: 200, and 422 in FastAPI's
  ``HTTPValidationError`` shape for any bad input (also for a body FastAPI cannot decode, where it
  would say 400, and for an unknown key_id, see rejections.py). The one exception is the admin
  token: 401, see admin.py.
- ``production`` answers as the real service did: undocumented 401/429 on validate (see
  routes_keys.py), 403/401 for the admin token, 404/400 for unknown or revoked keys, 400 for an
  undecodable body.

The test-only ``/__fault__`` control is described in routes_health.py.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from .faults import VALIDATE_PATH, FaultInjection, FaultState
from .guard import NeverServerError
from .rejections import Rejection, answer_rejection
from .responses import SafeJSONResponse
from .routes_health import build_health_router
from .routes_keys import build_keys_router
from .routes_usage import build_usage_router
from .seed import build_store
from .service import ServiceState
from .settings import FakeAuthSettings
from .verdict import Outcome

__all__ = ["create_app"]


def _count_if_validate(request: Request) -> None:
    # A malformed validate body never reaches the route; count it here so /metrics still shows
    # that the consumer called.
    if request.method == "POST" and request.url.path == VALIDATE_PATH:
        request.app.state.fake.metrics.count_validate(Outcome.MALFORMED)


async def _count_malformed(request: Request, exc: Exception) -> SafeJSONResponse:
    _count_if_validate(request)
    assert isinstance(exc, RequestValidationError)
    # FastAPI's own handler, rendered with the fake's JSON (see responses.py).
    return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def _unparsable_body(request: Request, exc: Exception) -> Response:
    # FastAPI answers 400 to a body it cannot even decode (not UTF-8). The contract documents 422
    # for a bad request body, so both profiles say 422, in FastAPI's json_invalid shape: the
    # production profile departs from the contract only where the real service is known to.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        _count_if_validate(request)
    if exc.status_code == 400:
        error = {"type": "json_invalid", "loc": ["body"], "msg": f"{exc.detail}", "input": {}}
        return SafeJSONResponse({"detail": [error]}, status_code=422)
    return await http_exception_handler(request, exc)


def create_app(settings: FakeAuthSettings | None = None) -> FastAPI:
    """A fresh fake. Raises ``SeedError`` when the seed file or the extra keys are unusable."""
    settings = settings or FakeAuthSettings()
    state = ServiceState(
        settings=settings,
        store=build_store(settings),
        faults=FaultState(settings.fault, settings.fault_delay_s),
    )
    # No /docs or /openapi.json: the fake exposes the contract's operations and nothing else.
    app = FastAPI(
        title="Hokusai Authentication Service (fake)",
        version="1.0.0",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        default_response_class=SafeJSONResponse,
    )
    app.state.fake = state
    app.include_router(build_health_router())
    app.include_router(build_keys_router(settings.profile))
    app.include_router(build_usage_router())
    app.add_exception_handler(Rejection, answer_rejection)
    app.add_exception_handler(RequestValidationError, _count_malformed)
    app.add_exception_handler(HTTPException, _unparsable_body)
    # add_middleware puts the last one outermost: faults answer before the guard sees anything.
    app.add_middleware(NeverServerError)
    app.add_middleware(FaultInjection, faults=state.faults, metrics=state.metrics)
    return app
