"""Injected faults, for reliability tests of the services that call the fake.

- ``down``: every request gets the load balancer's 503 page (text/html, ``Server: awselb/2.0``),
  as production did when the auth service was offline (incident 5).
- ``error``: ``POST /api/v1/keys/validate`` answers a bare 500.
- ``slow``: ``POST /api/v1/keys/validate`` waits ``delay_s`` seconds before it is answered.

The fault can be changed while the fake runs through ``POST /__fault__`` (see routes_health.py),
which therefore always stays reachable, even when the fake is "down".
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .metrics import Metrics
from .settings import Fault
from .verdict import Outcome

__all__ = ["CONTROL_PATH", "DOWN_BODY", "VALIDATE_PATH", "FaultInjection", "FaultState"]

VALIDATE_PATH = "/api/v1/keys/validate"
CONTROL_PATH = "/__fault__"
#: What an AWS application load balancer answers when no healthy target is left.
DOWN_BODY = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class FaultState:
    fault: Fault = "none"
    delay_s: float = 10.0


class FaultInjection:
    """Outermost middleware: a fault answers before the application and its guard see the call."""

    def __init__(self, app: ASGIApp, faults: FaultState, metrics: Metrics) -> None:
        self.app = app
        self.faults = faults
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == CONTROL_PATH:
            await self.app(scope, receive, send)
            return
        is_validate = scope["method"] == "POST" and scope["path"] == VALIDATE_PATH
        fault = self.faults.fault
        response: Response | None = None
        if fault == "down":
            response = Response(
                DOWN_BODY, status_code=503, media_type="text/html", headers={"Server": "awselb/2.0"}
            )
            if is_validate:
                self.metrics.count_validate(Outcome.FAULT_DOWN)
        elif fault == "error" and is_validate:
            response = PlainTextResponse("Internal Server Error", status_code=500)
            self.metrics.count_validate(Outcome.FAULT_ERROR)
        elif fault == "slow" and is_validate:
            await anyio.sleep(self.faults.delay_s)
        if response is not None:
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
