"""What the live checks share: the gated client, the contracts, and how a probe becomes a check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import key_required_at
from hokusai_contracts.domain.findings import ContractRef, Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult, UnknownNote

__all__ = ["LiveFacts", "LiveProbes", "answer_of"]


@dataclass
class LiveFacts:
    """What the live checks learned, for later checks and for which phases run."""

    #: The service ids the key validates for (None when the auth service did not answer).
    valid_for: list[str] | None = None
    #: Did the proxy let the key in (None when it did not answer)?
    key_accepted: bool | None = None


@dataclass
class LiveProbes:
    """The live run's means of asking: one per run, handed to each check module.

    Checks go into ``result`` as they are made, so that a phase cut short (a refusal, the budget
    spent) still hands the fold what it saw; ``take`` hands it over and starts afresh.
    """

    client: httpx.Client
    proxy_url: str
    auth_url: str
    mlflow_url: str  # "" when direct MLflow checks are off
    api_key: str
    auth_contract: Contract
    proxy_contract: Contract
    mlflow_contract: Contract
    timeout_s: float = 30.0
    out: Callable[[str], None] = print
    facts: LiveFacts = field(default_factory=LiveFacts)
    result: PhaseResult = field(default_factory=PhaseResult)

    def take(self) -> PhaseResult:
        taken, self.result = self.result, PhaseResult()
        return taken

    def ask(self, method: str, url: str, **kwargs: Any) -> ProbeResult:
        return probe(method, url, timeout=self.timeout_s, client=self.client, **kwargs)

    def ask_mlflow(self, method: str, path: str, **kwargs: Any) -> ProbeResult:
        """A direct read of MLflow, with the key only where MLflow's contract requires it (a gateway's overlay).

        Asked per operation, as the live gate asks: a path the contract does not describe (``ajax-api/``)
        goes without the key, or the gate would refuse the run's own read as a leak.
        """
        wanted = key_required_at(self.mlflow_contract, method, path, "Authorization")
        headers = {"Authorization": f"Bearer {self.api_key}"} if wanted else {}
        return self.ask(method, self.mlflow_url + path, headers=headers, **kwargs)

    def ref(self, contract: Contract, method: str, path: str, suffix: str = "") -> ContractRef | None:
        """Where ``contract`` writes the operation a probe exercised (``suffix`` points inside it)."""
        found = contract.match(method, path)
        return contract.ref(found.operation.pointer + suffix) if found else None

    def judged(self, result: ProbeResult, contract: Contract, hop: Hop, method: str, path: str,
               suite: Suite) -> list[Finding]:
        """The contract's view of an answer (undocumented status, schema)."""
        if result.response is None:
            return []
        findings = judge_response(contract, hop, method, path, status=result.response.status_code,
                                  headers=dict(result.response.headers), body=result.response.content)
        for finding in findings:
            finding.suite = suite
            finding.exchanges = finding.exchanges or [result.exchange()]
        return findings

    def add_finding(self, finding: Finding) -> None:
        """A finding no single check owns (a conclusion over several)."""
        self.result.findings.append(finding)

    def check(self, suite: Suite, name: str, result: ProbeResult | None, *, ok: bool, message: str,
              findings: list[Finding] | None = None, operation: str | None = None,
              skipped: bool = False) -> Check:
        """Record one check; it fails when ``ok`` is false, or (in the fold) an unknown finding came with it.

        ``skipped``: the probe was sent but its answer cannot judge what the check is about. The
        check's line is printed once the fold has judged its findings.
        """
        findings = findings or []
        record = Check(suite=suite, name=name, operation=operation, cases=1 if result else 0,
                       seconds=round(result.seconds, 3) if result else 0.0,
                       status=CheckStatus.FAILED if not ok else CheckStatus.SKIPPED if skipped else CheckStatus.PASSED,
                       message=message, findings=findings, note=UnknownNote.APPEND, announce=True)
        self.result.checks.append(record)
        return record


def answer_of(result: ProbeResult) -> str:
    """``401 {"detail": ...}`` or the transport error, short and redacted."""
    if result.status is None:
        return result.error or "no answer"
    return f"{result.status} {result.text(120)}".strip()
