"""Recorded exchanges judged one at a time, as a run judges its hop journals, in bounded memory.

Each exchange goes through ``journal.judging.judge_journal`` on its own and is then dropped:
equal findings (same hop, operation, kind, location) merge as they come, counted, so what is kept
is one finding per defect and the statuses seen per operation, however long the capture.
"""

from __future__ import annotations

from collections import Counter

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, Coverage, PhaseResult, UnknownNote

__all__ = ["TrafficJudge"]


class TrafficJudge:
    """``add`` every exchange, then ``result()``: one check per hop, as the hop-journal phase makes."""

    def __init__(self, auth: Contract, mlflow: Contract, proxy: Contract, mount: str = "") -> None:
        self.mount = mount
        self.contracts = {Hop.CLIENT_TO_PROXY: proxy, Hop.CLIENT_TO_AUTH: auth, Hop.PROXY_TO_AUTH: auth,
                          Hop.CLIENT_TO_MLFLOW: mlflow, Hop.PROXY_TO_MLFLOW: mlflow}
        self.findings: dict[Hop, dict[tuple[str, str, str, str], Finding]] = {}
        self.counts: Counter[Hop] = Counter()
        self.coverage = Coverage()
        #: Each receiver's base URL, as the capture shows it first: where a finding's curl goes.
        self.bases: dict[str, str] = {}

    def add(self, entry: HttpExchange) -> None:
        """One exchange, judged on its ``hop`` (``traffic.records.as_judged`` gives it one)."""
        hop = entry.hop
        if hop is None:
            raise ValueError(f"exchange {entry.seq} has no hop to judge it on")
        contract = self.contracts[hop]
        self.counts[hop] += 1
        if entry.origin:
            self.bases.setdefault(hop.receiver, entry.origin)
        # The caller's key must stop at the proxy: past it, on the way to MLflow, it is a leak.
        merged = self.findings.setdefault(hop, {})
        for finding in judge_journal([entry], contract, hop, forbid_credentials=hop is Hop.PROXY_TO_MLFLOW,
                                     leaks_only=entry.leaks_only):
            key = finding.identity()
            if key in merged:
                merged[key].count += finding.count
            else:
                merged[key] = finding
        if entry.status is not None:
            path = entry.path.removeprefix(self.mount) if hop is Hop.CLIENT_TO_PROXY and self.mount else entry.path
            match = contract.match(entry.method, path)
            if match is not None:
                self.coverage.add(contract.display_path, match.operation.label, {entry.status})

    @property
    def judged(self) -> int:
        return sum(self.counts.values())

    def result(self) -> PhaseResult:
        phase = PhaseResult(coverage=self.coverage)
        for hop in Hop:
            if not self.counts[hop]:
                continue
            count, name = self.counts[hop], f"{self.contracts[hop].display_path}"
            phase.checks.append(Check(
                suite=Suite.HOP_JOURNAL, name=f"{hop} ({count} requests)", status=CheckStatus.PASSED,
                cases=count, findings=list(self.findings.get(hop, {}).values()), note=UnknownNote.REPLACE,
                message=f"{count} recorded requests judged against {name.rsplit('/', 1)[-1]}"))
        return phase
