"""The faults suite: break one upstream at a time and judge how the proxy under test answers.

Works for any proxy (reference or ``PROXY_CMD``): the faults are injected on
our side of the proxy, through the fake auth service's fault control, the
journal in front of MLflow, and by stopping processes. For each fault the
proxy must answer, within a bounded time, with a status its contract
documents for that situation; a 500, a hang, a reset passed on to the client,
or a 401 (an outage reported as a bad key, incident 5) is a finding. Each
probe uses a key the proxy has never seen, so no validation cache hides the
fault.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.stack.definition import Part
from hokusai_contracts.stack.processes import Stack, StackEndpoints

__all__ = ["FAULTS", "AuthFault", "FaultCase", "Kill", "MlflowFault", "run_faults"]

SUITE = Suite.FAULTS
OPERATION = "GET /api/2.0/mlflow/experiments/search"
UPLOAD = "PUT /api/2.0/mlflow-artifacts/artifacts/{path}"
#: Big enough that the upload is still streaming when the journal cuts it (after 256 KiB), small
#: enough to cost well under a second on loopback.
UPLOAD_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class Breakage(Protocol):
    """How a fault case breaks one upstream, and mends it afterwards."""

    def breaks(self, controls: FaultControls) -> None: ...

    def mends(self, controls: FaultControls) -> None: ...


@dataclass(frozen=True)
class AuthFault:
    """The fake auth service's fault control: ``error`` (500), ``down`` (503), ``slow``."""

    mode: str

    def breaks(self, controls: FaultControls) -> None:
        controls.auth_fault(self.mode)

    def mends(self, controls: FaultControls) -> None:
        controls.auth_fault("none")


@dataclass(frozen=True)
class MlflowFault:
    """The journal in front of MLflow: ``slow``, or ``drop`` (the connection cut) where the path holds
    ``path_contains``."""

    mode: str
    path_contains: str = ""

    def breaks(self, controls: FaultControls) -> None:
        controls.mlflow_fault(self.mode, self.path_contains)

    def mends(self, controls: FaultControls) -> None:
        controls.mlflow_fault("none")


@dataclass(frozen=True)
class Kill:
    """The part's process is stopped for good: such cases come last."""

    part: Part

    def breaks(self, controls: FaultControls) -> None:
        controls.stack.kill(self.part)

    def mends(self, controls: FaultControls) -> None:
        return None


@dataclass(frozen=True)
class FaultCase:
    name: str
    part: str  # the upstream that is broken, as the diagnosis names it
    expected: frozenset[int]  # statuses the proxy contract documents for this situation
    breakage: Breakage
    operation: str = OPERATION  # what the probe asks of the proxy while the part is broken


FAULTS = (
    FaultCase("auth answers 500", "auth", frozenset({502, 503}), AuthFault("error")),
    FaultCase("auth down (load balancer 503)", "auth", frozenset({502, 503}), AuthFault("down")),
    FaultCase("auth slower than the proxy's timeout", "auth", frozenset({503, 504}), AuthFault("slow")),
    FaultCase("MLflow slower than the proxy's timeout", "mlflow", frozenset({504}), MlflowFault("slow")),
    # Only the upload is cut: the validating call before it must reach MLflow whole.
    FaultCase("MLflow drops the connection mid-upload", "mlflow", frozenset({502, 503, 504}),
              MlflowFault("drop", path_contains="/mlflow-artifacts/artifacts/"), UPLOAD),
    FaultCase("MLflow unreachable", "mlflow", frozenset({502, 503}), Kill(Part.MLFLOW)),
    FaultCase("auth unreachable", "auth", frozenset({503}), Kill(Part.AUTH)),
)


class FaultControls:
    """The means to break the stack's parts, and to probe the proxy meanwhile."""

    def __init__(self, stack: Stack, endpoints: StackEndpoints, delay_s: float) -> None:
        self.stack, self.endpoints, self.delay_s = stack, endpoints, delay_s
        self.admin = {"Authorization": f"Bearer {endpoints.admin_token}"}
        self.serial = 0

    def fresh_key(self) -> str:
        """A key the proxy has never validated (created through the fake's key administration)."""
        self.serial += 1
        answer = httpx.post(self.endpoints.auth_url + "/api/v1/keys", headers=self.admin, timeout=10,
                            json={"name": f"fault-probe-{self.serial}", "service_id": "platform"})
        answer.raise_for_status()
        return str(answer.json()["api_key"])

    def auth_fault(self, fault: str) -> None:
        httpx.post(self.endpoints.auth_url + "/__fault__", headers=self.admin, timeout=10,
                   json={"fault": fault, "delay_s": self.delay_s}).raise_for_status()

    def mlflow_fault(self, mode: str, path_contains: str = "") -> None:
        assert self.endpoints.mlflow_journal_url, "the faults suite needs the journal in front of MLflow"
        httpx.post(self.endpoints.mlflow_journal_url + "/__journal__/fault", timeout=10,
                   json={"mode": mode, "delay_s": self.delay_s, "path_contains": path_contains}).raise_for_status()

    def call(self, key: str) -> ProbeResult:
        # Bounded: the delay plus a margin; a proxy that waits longer than that hangs its clients.
        return probe("GET", self.endpoints.proxy_url + "/api/2.0/mlflow/experiments/search",
                     params={"max_results": 1}, headers={"Authorization": f"Bearer {key}"},
                     timeout=self.delay_s + 10)

    def upload(self, key: str) -> ProbeResult:
        """A streamed artifact upload, as the MLflow client sends one (sized, not chunked)."""
        self.serial += 1
        path = f"contract-probe/fault-upload-{os.getpid()}-{self.serial}.bin"
        return probe("PUT", f"{self.endpoints.proxy_url}/api/2.0/mlflow-artifacts/artifacts/{path}",
                     headers={"Authorization": f"Bearer {key}", "Content-Length": str(UPLOAD_BYTES)},
                     content=_upload_body(), timeout=self.delay_s + 10)

    def run(self, case: FaultCase) -> ProbeResult:
        key = self.fresh_key()
        send = self.upload if case.operation == UPLOAD else self.call
        if case.part == "mlflow":
            # Validate first, so the MLflow fault is what the proxy meets, not an auth call.
            self.call(key)
        case.breakage.breaks(self)
        try:
            return send(key)
        finally:
            case.breakage.mends(self)


def _upload_body() -> Iterator[bytes]:
    for _ in range(UPLOAD_BYTES // _CHUNK):
        yield b"\x00" * _CHUNK


def _finding(case: FaultCase, result: ProbeResult, delay_s: float) -> Finding | None:
    hop = Hop.CLIENT_TO_PROXY
    base = dict(hop=hop, operation=case.operation, suite=SUITE, exchanges=[result.exchange()])
    expected = f"one of {sorted(case.expected)} (documented for {case.name}) within {delay_s + 10:.0f} s"
    if result.error == "timeout":
        return Finding(kind=FindingKind.TIMEOUT, location="connection", expected=expected,
                       observed=f"no answer in {result.seconds:.1f} s: the proxy hangs its clients",
                       recommendation=f"Give the proxy a timeout on calls to {case.part} and answer 504 when "
                                      "it expires.", **base)  # type: ignore[arg-type]
    if result.error:
        return Finding(kind=FindingKind.UNREACHABLE, location="connection", expected=expected,
                       observed=f"the proxy itself did not answer ({result.error})",
                       recommendation=f"The proxy must survive {case.part} failing and answer "
                                      f"{sorted(case.expected)[0]} itself, not drop its client's connection "
                                      "(after an upload is cut, read the rest of the client's body or close "
                                      "only after answering).", **base)  # type: ignore[arg-type]
    if result.status in case.expected:
        return None
    if result.status in (401, 403):
        kind, advice = FindingKind.AUTH_REJECTED, (
            f"Tell an outage of {case.part} apart from a bad key: answer 503/504, not {result.status}.")
    elif result.status is not None and result.status >= 500:
        kind, advice = FindingKind.SERVER_ERROR, (
            f"Catch the failure of {case.part} and answer {sorted(case.expected)[0]} with the proxy's error body.")
    else:
        kind, advice = FindingKind.UNDOCUMENTED_STATUS, f"Answer {sorted(case.expected)} when {case.part} fails."
    return Finding(kind=kind, location="status", expected=expected, observed=f"{result.status} {result.text()}",
                   recommendation=advice, **base)  # type: ignore[arg-type]


def run_faults(stack: Stack, endpoints: StackEndpoints, delay_s: float, out: Callable[[str], None] = print,
               cases: Sequence[FaultCase] = FAULTS) -> PhaseResult:
    """Run the fault cases (all by default), in an order that leaves the stack usable until the last two."""
    controls = FaultControls(stack, endpoints, delay_s)
    checks: list[Check] = []
    began = time.perf_counter()
    for case in cases:
        started = time.perf_counter()
        try:
            result = controls.run(case)
        except httpx.HTTPError as exc:
            # Our own fault controls failed (the fake or the journal did not take the order): the
            # case could not be run, which says nothing of the proxy.
            checks.append(Check(suite=SUITE, name=case.name, operation=case.operation, status=CheckStatus.ERROR,
                                seconds=round(time.perf_counter() - started, 3),
                                message=f"the fault could not be set up: {type(exc).__name__}: {exc}"[:500]))
            out(f"  ! {case.name}: the fault could not be set up ({type(exc).__name__})")
            continue
        finding = _finding(case, result, delay_s)
        answer = result.status if result.status is not None else result.error
        checks.append(Check(
            suite=SUITE, name=case.name, operation=case.operation, cases=1,
            seconds=round(time.perf_counter() - started, 3), status=CheckStatus.PASSED,
            findings=[finding] if finding else [],
            message=f"proxy answered {answer} in {result.seconds:.1f} s"
                    + (f": {finding.kind.value}" if finding else ""),
        ))
        out(f"  {'✓' if finding is None else '✗'} {case.name}: {answer} in {result.seconds:.1f} s")
    return PhaseResult(checks=checks, timings={PhaseName.FAULTS: round(time.perf_counter() - began, 3)})
