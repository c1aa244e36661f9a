"""A loopback pass-through to the real endpoints, for clients the tool cannot hand a transport.

The MLflow client and the Schemathesis suites (in their own processes) talk to
``http://127.0.0.1:<port>/<target>/...``; each request passes the same gate as
the tool's own calls and goes on to the target's real base URL over TLS with
the configured CA bundle. A refused request gets status 599 and a JSON body
naming the rule (``error_code`` ``LIVE_POLICY_REFUSED`` or
``REQUEST_BUDGET_EXHAUSTED``); a request the upstream never answered gets 502
``EGRESS_UPSTREAM_UNREACHABLE``. Neither is what a real service said, and the
run treats them so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from hokusai_contracts.journal.listening import serving_in_thread
from hokusai_contracts.journal.recording import HOP_BY_HOP
from hokusai_contracts.safety.gate import BudgetExhausted, Gate, Refused
from hokusai_contracts.safety.policy import OutgoingRequest, Target
from hokusai_contracts.safety.transport import WIRE_HEADERS

__all__ = ["GUARD_STATUS", "Egress", "running_egress"]

#: The status of an answer the gate gave instead of the real service.
GUARD_STATUS = 599
# The egress buffers bodies, so the length it received is not necessarily the one it sends.
_NOT_FORWARDED = HOP_BY_HOP | {"content-length"}
_NOT_RETURNED = HOP_BY_HOP | WIRE_HEADERS


class Egress:
    """Where the pass-through listens: ``base(target)`` replaces a real base URL."""

    def __init__(self, gate: Gate, port: int) -> None:
        self.gate = gate
        self.port = port

    def base(self, target: Target) -> str:
        return f"http://127.0.0.1:{self.port}/{target.value}"

    def real_urls(self) -> dict[str, str]:
        """Loopback base → real base, for rewriting what clients printed and recorded."""
        return {self.base(target): url.rstrip("/") for target, url in self.gate.bases.items()}


def create_egress_app(gate: Gate, verify: str | bool, timeout_s: float,
                      transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """``transport`` replaces the network for unit tests (an ``httpx.MockTransport``)."""
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(verify=verify, timeout=timeout_s, follow_redirects=False,
                                     transport=transport) as client:
            state["client"] = client
            yield

    async def relay(request: Request) -> Response:
        # Parsed by hand: Starlette's path routes do not match a path holding a newline (%0A), which
        # fuzzed path parameters do, and the egress must pass every path to the real service.
        name, _, rest = request.url.path.lstrip("/").partition("/")
        try:
            target = Target(name)
        except ValueError:
            return JSONResponse({"error_code": "LIVE_POLICY_REFUSED", "message": "unknown egress target"},
                                status_code=GUARD_STATUS)
        if target not in gate.bases:
            return JSONResponse({"error_code": "LIVE_POLICY_REFUSED",
                                 "message": f"{target.value} is not configured for this run"}, status_code=GUARD_STATUS)
        raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        raw_path = raw_path[len(target.value) + 1:] or "/"
        query = request.scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]
                   if k.decode("latin-1").lower() not in _NOT_FORWARDED}
        body = await request.body()
        outgoing = OutgoingRequest(target=target, method=request.method, path="/" + rest,
                                   query=query, headers=headers, body=body)
        try:
            await asyncio.sleep(gate.admit(outgoing))
        except BudgetExhausted as exc:
            return JSONResponse({"error_code": "REQUEST_BUDGET_EXHAUSTED", "message": str(exc)},
                                status_code=GUARD_STATUS)
        except Refused as exc:
            return JSONResponse({"error_code": "LIVE_POLICY_REFUSED", "message": str(exc)}, status_code=GUARD_STATUS)
        started = time.perf_counter()
        try:
            answer = await state["client"].request(request.method, gate.url_for(target, raw_path, query),
                                                   headers=headers, content=body)
        except httpx.HTTPError as exc:
            gate.record(outgoing, None, b"", time.perf_counter() - started, error=type(exc).__name__)
            return JSONResponse({"error_code": "EGRESS_UPSTREAM_UNREACHABLE",
                                 "message": f"{target.value} did not answer: {type(exc).__name__}"}, status_code=502)
        gate.record(outgoing, answer.status_code, answer.content, time.perf_counter() - started,
                    headers=answer.headers)
        passthrough = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_RETURNED}
        return Response(answer.content, status_code=answer.status_code, headers=passthrough)

    async def every_request(scope: Scope, receive: Receive, send: Send) -> None:
        response = await relay(Request(scope, receive))
        await response(scope, receive, send)

    app = Starlette(lifespan=lifespan)
    app.router.default = every_request  # no routes: every path and method goes to relay
    return app


@contextmanager
def running_egress(gate: Gate, verify: str | bool, timeout_s: float,
                   transport: httpx.AsyncBaseTransport | None = None) -> Iterator[Egress]:
    """Serve the pass-through on a free loopback port in a background thread."""
    app = create_egress_app(gate, verify, timeout_s, transport)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30)
    with serving_in_thread(config, "live-egress", "the live run's loopback pass-through did not start; "
                           "run with --debug for details") as port:
        yield Egress(gate, port)
