"""Health, readiness, root and metrics (all safe to call on production), plus the fault control.

``GET|POST /__fault__`` is the fake's own test-only control, not part of the contract and hidden
from any generated schema. It needs the admin token. ``POST`` takes
``{"fault": "none|slow|error|down", "delay_s": <seconds, optional>}`` and answers the new setting;
it stays reachable while the fake plays "down".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from .admin import require_admin
from .faults import CONTROL_PATH
from .schemas import FaultChange
from .service import ServiceState, service_state
from .store import utcnow

__all__ = ["build_health_router"]

State = Annotated[ServiceState, Depends(service_state)]
SERVICE_NAME = "hokusai-auth-service"


async def health_check() -> dict[str, Any]:
    return {"status": "healthy", "service": SERVICE_NAME, "fake": True, "timestamp": utcnow()}


async def readiness_check(state: State) -> dict[str, Any]:
    return {
        "status": "ready",
        "service": SERVICE_NAME,
        "checks": {"store": "ok"},
        "keys": len(state.store.all()),
    }


async def metrics_endpoint(state: State) -> dict[str, Any]:
    return state.metrics.as_json()


async def root() -> dict[str, Any]:
    return {"service": "Hokusai Authentication Service", "version": "1.0.0", "fake": True}


async def get_fault(state: State) -> dict[str, Any]:
    return {"fault": state.faults.fault, "delay_s": state.faults.delay_s}


async def set_fault(change: FaultChange, state: State) -> dict[str, Any]:
    state.faults.fault = change.fault
    if change.delay_s is not None:
        state.faults.delay_s = change.delay_s
    return await get_fault(state)


def build_health_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route("/health", health_check, methods=["GET"], tags=["health"])
    router.add_api_route("/ready", readiness_check, methods=["GET"], tags=["health"])
    router.add_api_route("/metrics", metrics_endpoint, methods=["GET"], tags=["health"])
    router.add_api_route("/", root, methods=["GET"])
    # The load balancer's own probes, answered like /health and /ready.
    router.add_api_route("/auth/health", health_check, methods=["GET"])
    router.add_api_route("/auth/ready", readiness_check, methods=["GET"])
    admin = [Depends(require_admin)]
    for method, endpoint in (("GET", get_fault), ("POST", set_fault)):
        router.add_api_route(
            CONTROL_PATH, endpoint, methods=[method], dependencies=admin, include_in_schema=False
        )
    return router
