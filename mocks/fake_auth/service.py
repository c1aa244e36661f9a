"""Everything one running fake holds, reachable from any route as ``Depends(service_state)``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from .faults import FaultState
from .metrics import Metrics
from .settings import FakeAuthSettings
from .store import KeyStore
from .verdict import RateLimiter

__all__ = ["ServiceState", "service_state"]


@dataclass
class ServiceState:
    settings: FakeAuthSettings
    store: KeyStore
    faults: FaultState
    metrics: Metrics = field(default_factory=Metrics)
    limiter: RateLimiter = field(default_factory=RateLimiter)

    @property
    def production(self) -> bool:
        return self.settings.profile == "production"


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.fake
    return state
