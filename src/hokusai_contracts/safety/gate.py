"""The one gate every live request passes: safety policy, rate limit, request budget, traffic log.

Both ways out of a live run use it: ``transport.GatedTransport`` for the
tool's own httpx calls, and ``egress`` (a loopback pass-through) for the
MLflow client and the Schemathesis suites, which run their own HTTP stacks,
some in other processes. One gate means one rate limit across all of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from hokusai_contracts._errors import SafetyError
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.safety.policy import OutgoingRequest, SafetyPolicy, Target

__all__ = ["HOP_OF_TARGET", "BudgetExhausted", "Gate", "Listener", "Refused", "Refusal"]

#: Told of every exchange the gate let out, when it is answered or fails (``status`` None: no
#: answer), at its real URL. ``contract-live RECORD=1`` records the run's traffic with one.
Listener = Callable[[HttpExchange], None]
#: The hop a live run's request travels: the run is the client, the target the receiver.
HOP_OF_TARGET = {Target.PROXY: Hop.CLIENT_TO_PROXY, Target.ORIGIN: Hop.CLIENT_TO_PROXY,
                 Target.AUTH: Hop.CLIENT_TO_AUTH, Target.MLFLOW: Hop.CLIENT_TO_MLFLOW}


class Refused(SafetyError):
    """The policy forbids a request: a defect of whoever built it, never sent."""


class BudgetExhausted(Refused):
    """The run's request budget is spent: nothing more is sent."""


@dataclass(frozen=True)
class Refusal:
    target: str
    method: str
    path: str
    reason: str
    budget: bool


@dataclass
class Gate:
    policy: SafetyPolicy
    bases: Mapping[Target, str]  # each target's real base URL
    rate_limit: float  # requests per second
    budget: int
    log_path: Path | None = None
    listener: Listener | None = None
    sent: int = 0
    waited_s: float = 0.0
    refusals: list[Refusal] = field(default_factory=list)
    _next_slot: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- routing -----------------------------------------------------------------------------

    def locate(self, url: str) -> tuple[Target, str] | None:
        """The target a real URL belongs to, and the path relative to its base (longest base wins)."""
        best: tuple[Target, str] | None = None
        best_length = -1
        for target, base in self.bases.items():
            if (url == base or url.startswith(base.rstrip("/") + "/")) and len(base) > best_length:
                best, best_length = (target, "/" + url[len(base):].lstrip("/").split("?", 1)[0]), len(base)
        return best

    def url_for(self, target: Target, raw_path: str, query: str = "") -> str:
        return self.bases[target].rstrip("/") + raw_path + (f"?{query}" if query else "")

    # -- admission ---------------------------------------------------------------------------

    def admit(self, request: OutgoingRequest) -> float:
        """Check ``request`` and take a slot; returns how long to wait before sending it.

        Raises ``Refused`` (policy) or ``BudgetExhausted`` without taking a slot.
        """
        reason = self.policy.refusal(request)
        path = redact(request.path, self.policy.secrets)
        with self._lock:
            if reason is None and self.sent >= self.budget:
                reason = f"the request budget of {self.budget} is spent (HOKUSAI_REQUEST_BUDGET)"
                refusal = Refusal(request.target.value, request.method, path, reason, budget=True)
            elif reason is not None:
                refusal = Refusal(request.target.value, request.method, path, reason, budget=False)
            else:
                self.sent += 1
                now = time.monotonic()
                slot = max(now, self._next_slot)
                self._next_slot = slot + 1.0 / self.rate_limit
                self.waited_s += slot - now
                return slot - now
            self.refusals.append(refusal)
        self._log({"target": refusal.target, "method": refusal.method, "path": refusal.path,
                   "refused": reason})
        raise (BudgetExhausted if refusal.budget else Refused)(reason)

    def record(self, request: OutgoingRequest, status: int | None, body: bytes, seconds: float,
               error: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        if status is not None:
            self.policy.observe(request, status, body)
        if self.listener is not None:
            self.listener(self.exchange(request, status, headers or {}, body, seconds, error))
        self._log({"target": request.target.value, "method": request.method,
                   "path": redact(request.path, self.policy.secrets), "status": status,
                   "ms": round(seconds * 1000, 1), **({"error": error} if error else {})})

    def exchange(self, request: OutgoingRequest, status: int | None, headers: Mapping[str, str], body: bytes,
                 seconds: float, error: str | None = None) -> HttpExchange:
        """What went out and came back, as recorded: at the real URL, on the hop to the target."""
        base = urlsplit(self.bases[request.target])
        path = base.path.rstrip("/") + request.path  # as ``url_for`` joins them, not split again
        return HttpExchange(
            method=request.method, path=path, raw_path=path, raw_query=request.query,
            query=tuple(parse_qsl(request.query, keep_blank_values=True)),
            origin=f"{base.scheme}://{base.netloc}", hop=HOP_OF_TARGET[request.target],
            started_at=time.time() - seconds, request_headers=dict(request.headers),
            request_body=Body.of_bytes(request.body), status=status, response_headers=dict(headers),
            response_body=Body.of_bytes(body), elapsed_ms=round(seconds * 1000, 1), error=error)

    def _log(self, entry: dict[str, object]) -> None:
        if self.log_path is None:
            return
        line = json.dumps({"t": round(time.time(), 3), **entry})
        with self._lock, self.log_path.open("a", encoding="utf-8") as sink:
            sink.write(redact(line, self.policy.secrets) + "\n")

    @property
    def exhausted(self) -> bool:
        return any(r.budget for r in self.refusals)
