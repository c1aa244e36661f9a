"""The faults suite: break one upstream at a time and judge how the proxy under test answers.

Works for any proxy (reference or ``PROXY_CMD``): the faults are injected on
our side of the proxy, through the fake auth service's fault control, the
journal in front of MLflow, and by stopping processes. For each fault the
proxy must answer, within a bounded time, with a status its contract
documents for that situation; a 500, a hang, a reset passed on to the client,
or a 401 (an outage reported as a bad key, incident 5) is a finding. Each
probe uses a key the proxy has never seen, so no validation cache hides the
fault. A slow upstream's own answer, passed on after the delay, is right too
(``fault_verdicts``): the proxy's timeout is then longer than the delay.

The auth cases are judged whatever the proxy makes of the valid key (or of MLflow):
the answer due to an auth outage (503, or 502/504) does not depend on a key that
works. The MLflow cases need a key that gets through and an MLflow that answers:
when the proxy refuses the valid key, or MLflow is down, they are skipped as a
consequence of that first cause (``mlflow_blocked``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from hokusai_contracts.checks.probes.fault_verdicts import judge_fault
from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.checks.probes.keys import platform_key_request
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import Part
from hokusai_contracts.stack.processes import Stack, StackEndpoints

__all__ = ["DEFAULT_WAIT_S", "FAULTS", "KEY_REFUSED", "MLFLOW_DOWN", "AuthFault", "FaultCase", "Kill", "MlflowFault",
           "run_faults"]

SUITE = Suite.FAULTS
OPERATION = "GET /api/2.0/mlflow/experiments/search"
UPLOAD = "PUT /api/2.0/mlflow-artifacts/artifacts/{path}"
#: Big enough that the upload is still streaming when the journal cuts it (after 256 KiB), small
#: enough to cost well under a second on loopback.
UPLOAD_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024
#: How much longer than the proxy's timeout a slow upstream waits: the proxy must have given up by then.
SLOW_MARGIN_S = 3.0
#: How long past the longest fault's delay a probe waits for the proxy's answer (HOKUSAI_FAULT_WAIT_S):
#: a proxy still silent by then hangs its clients.
DEFAULT_WAIT_S = 10.0
#: Why the MLflow cases are not run: each the first cause a run found, of which they are a consequence.
KEY_REFUSED = "a consequence of the proxy refusing the valid platform key (see bearer-auth)"
MLFLOW_DOWN = "a consequence of MLflow being down or too slow (see verify-proxy)"


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
    #: The part answers, late: its own answer after the delay is right too (a proxy that waits longer).
    slow: bool = False


FAULTS = (
    FaultCase("auth answers 500", "auth", frozenset({502, 503}), AuthFault("error")),
    FaultCase("auth down (load balancer 503)", "auth", frozenset({502, 503}), AuthFault("down")),
    FaultCase("auth slower than the proxy's timeout", "auth", frozenset({503, 504}), AuthFault("slow"), slow=True),
    FaultCase("MLflow slower than the proxy's timeout", "mlflow", frozenset({504}), MlflowFault("slow"), slow=True),
    # Only the upload is cut: the validating call before it must reach MLflow whole.
    FaultCase("MLflow drops the connection mid-upload", "mlflow", frozenset({502, 503, 504}),
              MlflowFault("drop", path_contains="/mlflow-artifacts/artifacts/"), UPLOAD),
    FaultCase("MLflow unreachable", "mlflow", frozenset({502, 503}), Kill(Part.MLFLOW)),
    FaultCase("auth unreachable", "auth", frozenset({503}), Kill(Part.AUTH)),
)


class FaultControls:
    """The means to break the stack's parts, and to probe the proxy meanwhile."""

    def __init__(self, stack: Stack, endpoints: StackEndpoints, delay_s: float,
                 timeouts: UpstreamTimeouts | None = None, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.stack, self.endpoints, self.timeouts = stack, endpoints, timeouts or UpstreamTimeouts()
        self.base_delay_s, self.wait_s = delay_s, wait_s
        # The longest wait any case may need: a slow upstream beyond the longest declared timeout.
        self.delay_s = max(delay_s, self.delay_for("auth"), self.delay_for("mlflow"))
        #: How long a probe waits for the proxy: a proxy silent for longer hangs its clients.
        self.bound_s = self.delay_s + wait_s
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
                            json=platform_key_request(f"fault-probe-{self.serial}"))
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
        return probe("GET", self.endpoints.proxy_url + "/api/2.0/mlflow/experiments/search",
                     params={"max_results": 1}, headers={"Authorization": f"Bearer {key}"}, timeout=self.bound_s)

    def upload(self, key: str) -> ProbeResult:
        """A streamed artifact upload, as the MLflow client sends one (sized, not chunked)."""
        self.serial += 1
        path = f"contract-probe/fault-upload-{os.getpid()}-{self.serial}.bin"
        result = probe("PUT", f"{self.endpoints.proxy_url}/api/2.0/mlflow-artifacts/artifacts/{path}",
                       headers={"Authorization": f"Bearer {key}", "Content-Length": str(UPLOAD_BYTES)},
                       content=_upload_body(), timeout=self.bound_s)
        result.body_size, result.body_sha256 = UPLOAD_BYTES, _upload_sha256()
        return result

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


@functools.cache
def _upload_sha256() -> str:
    """The upload's digest, which its exchange gives instead of the body (computed once, when needed)."""
    digest = hashlib.sha256()
    for chunk in _upload_body():
        digest.update(chunk)
    return digest.hexdigest()


Baseline = ProbeResult | httpx.HTTPError


def run_faults(stack: Stack, endpoints: StackEndpoints, delay_s: float, out: Callable[[str], None] = print,
               cases: Sequence[FaultCase] = FAULTS, timeouts: UpstreamTimeouts | None = None, *,
               contract: Contract, mlflow_blocked: str | None = None, wait_s: float = DEFAULT_WAIT_S) -> PhaseResult:
    """Run the fault cases (all by default), in an order that leaves the stack usable until the last two.

    ``mlflow_blocked``: why the MLflow cases would only meet a failure the run already found (the
    valid key refused, MLflow down): they are skipped as its consequence; the auth cases run all the same.
    """
    controls = FaultControls(stack, endpoints, delay_s, timeouts, wait_s)
    began = time.perf_counter()
    runnable = [case for case in cases if not (mlflow_blocked and case.part == "mlflow")]
    # Every baseline before the first fault: the cases that stop a part for good come last, and
    # the call of the last one could not succeed without the part the one before it stopped.
    baselines: dict[str, Baseline] = {}
    for case in runnable:
        try:
            baselines[case.name] = controls.baseline(case)
        except httpx.HTTPError as exc:
            baselines[case.name] = exc
    checks: list[Check] = []
    for case in cases:
        if case.name in baselines:
            check, line = _run_case(controls, case, baselines[case.name], contract)
        else:
            check = Check(suite=SUITE, name=case.name, operation=case.operation, status=CheckStatus.SKIPPED,
                          message=f"skipped: {mlflow_blocked}")
            line = f"  - {case.name}: skipped ({mlflow_blocked})"
        checks.append(check)
        out(line)
    return PhaseResult(checks=checks, timings={PhaseName.FAULTS: round(time.perf_counter() - began, 3)})


def _unusable(case: FaultCase, baseline: ProbeResult) -> str | None:
    """Why the case cannot be judged, given what the proxy answered without the fault."""
    if baseline.status is None:
        return f"baseline failed: without the fault the proxy did not answer ({baseline.error})"
    if case.part == "auth" or 200 <= baseline.status < 300:
        # An auth outage has its documented answer whatever the proxy makes of the key.
        return None
    # Without the fault the call already fails (a refused key, say): what the proxy answers
    # with the fault would be that same failure, not its fault handling.
    return f"baseline failed: without the fault the proxy answered {baseline.status}"


def _run_case(controls: FaultControls, case: FaultCase, baseline: Baseline, contract: Contract) -> tuple[Check, str]:
    """The case's check, and the line that tells it."""
    started = time.perf_counter()

    def seconds() -> float:
        return round(time.perf_counter() - started, 3)

    try:
        if isinstance(baseline, httpx.HTTPError):
            raise baseline
        reason = _unusable(case, baseline)
        if reason:
            return (Check(suite=SUITE, name=case.name, operation=case.operation, status=CheckStatus.SKIPPED,
                          seconds=seconds(), message=reason[:500]), f"  - {case.name}: skipped ({reason[:120]})")
        result = controls.run(case)
    except httpx.HTTPError as exc:
        # Our own fault controls failed (the fake or the journal did not take the order): the
        # case could not be run, which says nothing of the proxy.
        return (Check(suite=SUITE, name=case.name, operation=case.operation, status=CheckStatus.ERROR,
                      seconds=seconds(), message=f"the fault could not be set up: {type(exc).__name__}: {exc}"[:500]),
                f"  ! {case.name}: the fault could not be set up ({type(exc).__name__})")
    verdict = judge_fault(case, result, baseline, delay_s=controls.delay_for(case.part), wait_s=controls.wait_s,
                          contract=contract)
    answer = result.status if result.status is not None else result.error
    told = f"proxy answered {answer} in {result.seconds:.1f} s" + (f": {verdict.note}" if verdict.note else "")
    if verdict.findings:
        told += ": " + ", ".join(f.kind.value for f in verdict.findings)
    # A slow part that answered before the proxy gave up: what was due on a timeout was not seen.
    status = CheckStatus.PASSED if verdict.exercised else CheckStatus.SKIPPED
    check = Check(suite=SUITE, name=case.name, operation=case.operation, cases=1, seconds=seconds(), status=status,
                  findings=verdict.findings, message=told[:500])
    mark = "✗" if verdict.findings else "✓" if verdict.exercised else "-"
    return check, f"  {mark} {case.name}: {answer} in {result.seconds:.1f} s" + (
        "" if verdict.exercised else " (its timeout answer not exercised)")
