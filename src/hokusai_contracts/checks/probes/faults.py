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
from hokusai_contracts.checks.probes.keys import platform_key_request
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.settings import UpstreamTimeouts
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
#: How much longer than the proxy's timeout a slow upstream waits: the proxy must have given up by then.
SLOW_MARGIN_S = 3.0


class Breakage(Protocol):
    """How a fault case breaks one upstream, and mends it afterwards."""

    def breaks(self, controls: FaultControls) -> None: ...

    def mends(self, controls: FaultControls) -> None: ...


@dataclass(frozen=True)
class AuthFault:
    """The fake auth service's fault control: ``error`` (500), ``down`` (503), ``slow``."""

    mode: str

    def breaks(self, controls: FaultControls) -> None:
        controls.auth_fault(self.mode, controls.delay_for("auth"))

    def mends(self, controls: FaultControls) -> None:
        controls.auth_fault("none")


@dataclass(frozen=True)
class MlflowFault:
    """The journal in front of MLflow: ``slow``, or ``drop`` (the connection cut) where the path holds
    ``path_contains``."""

    mode: str
    path_contains: str = ""

    def breaks(self, controls: FaultControls) -> None:
        controls.mlflow_fault(self.mode, self.path_contains, controls.delay_for("mlflow"))

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

    def __init__(self, stack: Stack, endpoints: StackEndpoints, delay_s: float,
                 timeouts: UpstreamTimeouts | None = None) -> None:
        self.stack, self.endpoints, self.timeouts = stack, endpoints, timeouts or UpstreamTimeouts()
        self.base_delay_s = delay_s
        # The longest wait any case may need: a slow upstream beyond the longest declared timeout.
        self.delay_s = max(delay_s, self.delay_for("auth"), self.delay_for("mlflow"))
        self.admin = {"Authorization": f"Bearer {endpoints.admin_token}"}
        self.serial = 0

    def delay_for(self, part: str) -> float:
        """How long ``part`` is slow: beyond the proxy's declared timeout for it, else the run's delay."""
        declared = self.timeouts.of(part)
        if declared is None:
            return self.base_delay_s
        return declared + SLOW_MARGIN_S

    def fresh_key(self) -> str:
        """A key the proxy has never validated (created through the fake's key administration)."""
        self.serial += 1
        answer = httpx.post(self.endpoints.auth_url + "/api/v1/keys", headers=self.admin, timeout=10,
                            json=platform_key_request(f"fault-probe-{self.serial}", self.endpoints.seed_file))
        answer.raise_for_status()
        return str(answer.json()["api_key"])

    def auth_fault(self, fault: str, delay_s: float = 0.0) -> None:
        httpx.post(self.endpoints.auth_url + "/__fault__", headers=self.admin, timeout=10,
                   json={"fault": fault, "delay_s": delay_s or self.delay_s}).raise_for_status()

    def mlflow_fault(self, mode: str, path_contains: str = "", delay_s: float = 0.0) -> None:
        assert self.endpoints.mlflow_journal_url, "the faults suite needs the journal in front of MLflow"
        httpx.post(self.endpoints.mlflow_journal_url + "/__journal__/fault", timeout=10,
                   json={"mode": mode, "delay_s": delay_s or self.delay_s,
                         "path_contains": path_contains}).raise_for_status()

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

    def baseline(self, case: FaultCase) -> ProbeResult:
        """The same call, with a fresh key, and nothing broken."""
        send = self.upload if case.operation == UPLOAD else self.call
        return send(self.fresh_key())

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
               cases: Sequence[FaultCase] = FAULTS, timeouts: UpstreamTimeouts | None = None) -> PhaseResult:
    """Run the fault cases (all by default), in an order that leaves the stack usable until the last two."""
    controls = FaultControls(stack, endpoints, delay_s, timeouts)
    checks: list[Check] = []
    began = time.perf_counter()
    # Every baseline before the first fault: the cases that stop a part for good come last, and
    # the call of the last one could not succeed without the part the one before it stopped.
    baselines: dict[str, ProbeResult | httpx.HTTPError] = {}
    for case in cases:
        try:
            baselines[case.name] = controls.baseline(case)
        except httpx.HTTPError as exc:
            baselines[case.name] = exc
    for case in cases:
        started = time.perf_counter()
        try:
            baseline = baselines[case.name]
            if isinstance(baseline, httpx.HTTPError):
                raise baseline
            if baseline.status is None or not 200 <= baseline.status < 300:
                # Without the fault the call already fails (a refused key, say): what the proxy
                # answers with the fault would be that same failure, not its fault handling.
                reason = f"baseline failed: without the fault the proxy answered {baseline.status or baseline.error}"
                checks.append(Check(suite=SUITE, name=case.name, operation=case.operation, status=CheckStatus.SKIPPED,
                                    seconds=round(time.perf_counter() - started, 3), message=reason[:500]))
                out(f"  - {case.name}: skipped ({reason[:120]})")
                continue
            result = controls.run(case)
        except httpx.HTTPError as exc:
            # Our own fault controls failed (the fake or the journal did not take the order): the
            # case could not be run, which says nothing of the proxy.
            checks.append(Check(suite=SUITE, name=case.name, operation=case.operation, status=CheckStatus.ERROR,
                                seconds=round(time.perf_counter() - started, 3),
                                message=f"the fault could not be set up: {type(exc).__name__}: {exc}"[:500]))
            out(f"  ! {case.name}: the fault could not be set up ({type(exc).__name__})")
            continue
        finding = _finding(case, result, controls.delay_s)
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
