"""What the live checks share: the gated client, the contracts, and how a probe becomes a check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import ContractRef, Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report

__all__ = ["LiveProbes"]


@dataclass
class LiveProbes:
    """The live run's means of asking: one per run, handed to each check module."""

    client: httpx.Client
    report: Report
    proxy_url: str
    auth_url: str
    mlflow_url: str  # "" when direct MLflow checks are off
    api_key: str
    auth_contract: Contract
    proxy_contract: Contract
    mlflow_contract: Contract
    deviations: KnownDeviations
    timeout_s: float = 30.0
    out: Callable[[str], None] = print
    facts: dict[str, Any] = field(default_factory=dict)  # what checks learned, for later checks and diagnosis

    def ask(self, method: str, url: str, **kwargs: Any) -> ProbeResult:
        return probe(method, url, timeout=self.timeout_s, client=self.client, **kwargs)

    def ref(self, contract: Contract, method: str, path: str, suffix: str = "") -> ContractRef | None:
        """Where ``contract`` writes the operation a probe exercised (``suffix`` points inside it)."""
        found = contract.match(method, path)
        return contract.ref(found.operation.pointer + suffix) if found else None

    def judged(self, result: ProbeResult, contract: Contract, hop: Hop, method: str, path: str,
               suite: str) -> list[Finding]:
        """The contract's view of an answer (undocumented status, schema), known deviations applied."""
        if result.response is None:
            return []
        findings = judge_response(contract, hop, method, path, status=result.response.status_code,
                                  headers=dict(result.response.headers), body=result.response.content)
        for finding in findings:
            finding.suite = suite
            finding.exchanges = finding.exchanges or [result.exchange()]
        return self.deviations.apply(findings, date.today())

    def check(self, suite: str, name: str, result: ProbeResult | None, *, ok: bool, message: str,
              findings: list[Finding] | None = None, operation: str | None = None,
              skipped: bool = False) -> CheckRecord:
        """Record one check; it fails when ``ok`` is false or an unknown finding came with it.

        ``skipped``: the probe was sent but its answer cannot judge what the check is about.
        """
        findings = findings or []
        ids = [self.report.add_finding(f) for f in findings]
        unknown = [f for f in findings if not f.known]
        failed = not ok or bool(unknown)
        if unknown and ok:
            message += "; " + "; ".join(f"{f.kind.value} at {f.location}" for f in unknown[:3])
        record = CheckRecord(suite=suite, name=name, operation=operation, cases=1 if result else 0,
                             seconds=round(result.seconds, 3) if result else 0.0,
                             status=CheckStatus.FAILED if failed else
                             CheckStatus.SKIPPED if skipped else CheckStatus.PASSED,
                             message=message, finding_ids=sorted(set(ids)))
        self.report.checks.append(record)
        self.out(f"{'✗' if failed else '-' if skipped else '✓'} [{suite}] {name}: {message}")
        return record


def answer_of(result: ProbeResult) -> str:
    """``401 {"detail": ...}`` or the transport error, short and redacted."""
    if result.status is None:
        return result.error or "no answer"
    return f"{result.status} {result.text(120)}".strip()
