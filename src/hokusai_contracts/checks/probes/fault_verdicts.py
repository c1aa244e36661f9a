"""How the proxy's answer to one fault case is judged, and the finding it makes.

Three answers are right: a status the proxy contract documents for the situation (503 for an
auth outage, 504 for an upstream slower than the proxy's timeout...); and, for a *slow* upstream
only, the upstream's own answer once the delay is over (the proxy's timeout is longer than the
delay: a correct answer, late, is never a defect; its timeout answer was simply not exercised).
An answer can only be the upstream's own if it came after the delay: the fake auth service and
the journal in front of MLflow wait that long before they answer. Everything else is a finding
on client->proxy with the contract's pointer to the answer that was due, and the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import ContractRef, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["JudgedCase", "Verdict", "fault_ref", "judge_fault"]

SUITE = Suite.FAULTS
#: How a fault case asks for the wait it was given to be changed.
WAIT_SETTING = "HOKUSAI_FAULT_WAIT_S"


class JudgedCase(Protocol):
    """What the verdict needs of a fault case (``faults.FaultCase``)."""

    @property
    def name(self) -> str: ...
    @property
    def part(self) -> str: ...
    @property
    def expected(self) -> frozenset[int]: ...
    @property
    def operation(self) -> str: ...
    @property
    def slow(self) -> bool: ...


@dataclass(frozen=True)
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    #: False when a slow upstream answered before the proxy gave up: its timeout answer was not seen.
    exercised: bool = True
    note: str = ""


def _concrete(operation: str) -> tuple[str, str]:
    method, _, template = operation.partition(" ")
    return method, template.replace("{path}", "contract-probe/fault.bin")


def fault_ref(contract: Contract, operation: str, status: int) -> ContractRef | None:
    """The contract's documented answer ``status`` on ``operation``, else the operation's responses."""
    match = contract.match(*_concrete(operation))
    if match is None:
        return None
    responses = match.operation.spec.get("responses") or {}
    suffix = f"/responses/{status}" if str(status) in responses else "/responses"
    return contract.ref(match.operation.pointer + suffix)


def judge_fault(case: JudgedCase, result: ProbeResult, baseline: ProbeResult, *, delay_s: float, wait_s: float,
                contract: Contract) -> Verdict:
    """The verdict on ``result``, the proxy's answer with the fault; ``baseline`` its answer without."""
    bound = delay_s + wait_s
    if result.error == "timeout":
        return Verdict([_finding(
            case, result, contract, delay_s, wait_s, FindingKind.TIMEOUT, "connection", timed_out=True,
            observed=f"no answer in {result.seconds:.1f} s: the proxy hangs its clients",
            advice=f"Give the proxy a timeout on calls to {case.part} and answer 504 when it expires (a proxy "
                   f"that needs longer than {bound:.0f} s: raise {WAIT_SETTING}).")])
    if result.error:
        return Verdict([_finding(
            case, result, contract, delay_s, wait_s, FindingKind.UNREACHABLE, "connection",
            observed=f"the proxy itself did not answer ({result.error})",
            advice=f"The proxy must survive {case.part} failing and answer {min(case.expected)} itself, not drop "
                   "its client's connection (after an upload is cut, read the rest of the client's body or close "
                   "only after answering).")])
    if result.status in case.expected:
        return Verdict()
    if case.slow and result.seconds >= delay_s and result.status == baseline.status:
        return _late_answer(case, result, delay_s, contract)
    status = result.status
    if status in (401, 403):
        kind, advice = FindingKind.AUTH_REJECTED, (
            f"Tell an outage of {case.part} apart from a bad key: answer 503/504, not {status}.")
    elif status is not None and status >= 500:
        kind, advice = FindingKind.SERVER_ERROR, (
            f"Catch the failure of {case.part} and answer {min(case.expected)} with the proxy's error body.")
    else:
        kind, advice = FindingKind.UNDOCUMENTED_STATUS, f"Answer {sorted(case.expected)} when {case.part} fails."
    return Verdict([_finding(case, result, contract, delay_s, wait_s, kind, "status",
                             observed=f"{status} {result.text()}", advice=advice)])


def _finding(case: JudgedCase, result: ProbeResult, contract: Contract, delay_s: float, wait_s: float,
             kind: FindingKind, location: str, *, observed: str, advice: str, timed_out: bool = False) -> Finding:
    # The pointer cites the answer that was due: 504 for a wait that ran out, else the first documented.
    due = 504 if timed_out and 504 in case.expected else min(case.expected)
    return Finding(
        hop=Hop.CLIENT_TO_PROXY, operation=case.operation, kind=kind, location=location, suite=SUITE,
        contract=fault_ref(contract, case.operation, due), exchanges=[result.exchange()],
        expected=f"one of {sorted(case.expected)} (documented for {case.name}) within {delay_s + wait_s:.0f} s "
                 f"(the {delay_s:g} s fault and {WAIT_SETTING}={wait_s:g})",
        observed=observed, recommendation=advice)


def _late_answer(case: JudgedCase, result: ProbeResult, delay_s: float, contract: Contract) -> Verdict:
    """The upstream's own answer after the delay: right if it is what the contract says the call answers."""
    method, path = _concrete(case.operation)
    assert result.response is not None
    found = judge_response(contract, Hop.CLIENT_TO_PROXY, method, path, status=result.response.status_code,
                           headers=dict(result.response.headers), body=result.response.content)
    for finding in found:
        finding.suite = SUITE
        finding.exchanges = finding.exchanges or [result.exchange()]
    note = (f"{case.part} answered after the {delay_s:g} s delay and the proxy passed its answer on: the proxy's "
            f"timeout for {case.part} is longer than the delay, so its timeout answer was not exercised (declare "
            f"HOKUSAI_PROXY_TIMEOUTS={case.part}=SECONDS to exercise it)")
    return Verdict(found, exercised=False, note=note)
