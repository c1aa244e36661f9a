"""Recorded exchanges judged one at a time, as a run judges its hop journals, in bounded memory.

Each exchange goes through ``journal.judging.judge_journal`` on its own and is then dropped:
equal findings (same hop, operation, kind, location) merge as they come, counted, so what is kept
is one finding per defect and the statuses seen per operation, however long the capture. What is
kept is a ``Tally``: the judges of a capture's partitions (on Dask workers) merge theirs into one.
"""

from __future__ import annotations

from collections import Counter

from hokusai_contracts.checks.traffic_tally import Tally
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, Coverage, PhaseResult, UnknownNote
from hokusai_contracts.traffic.partitions import Place

__all__ = ["TrafficJudge"]


class TrafficJudge:
    """``add`` every exchange, then ``result()``: one check per hop, as the hop-journal phase makes."""

    def __init__(self, auth: Contract, mlflow: Contract, proxy: Contract, mount: str = "") -> None:
        self.mount = mount
        self.contracts = {Hop.CLIENT_TO_PROXY: proxy, Hop.CLIENT_TO_AUTH: auth, Hop.PROXY_TO_AUTH: auth,
                          Hop.CLIENT_TO_MLFLOW: mlflow, Hop.PROXY_TO_MLFLOW: mlflow}
        self.tally = Tally()

    def add(self, entry: HttpExchange, *, place: Place = (0, 0)) -> None:
        """One exchange, judged on its ``hop`` (``traffic.records.as_judged`` gives it one); ``place``
        (file, offset) decides which evidence a merged finding keeps."""
        hop, tally = entry.hop, self.tally
        if hop is None:
            raise ValueError(f"exchange {entry.seq} has no hop to judge it on")
        contract = self.contracts[hop]
        tally.counts[hop] += 1
        if entry.origin:
            tally.add_base(hop.receiver, place, entry.origin)
        # The caller's key must stop at the proxy: past it, on the way to MLflow, it is a leak.
        for finding in judge_journal([entry], contract, hop, forbid_credentials=hop is Hop.PROXY_TO_MLFLOW,
                                     leaks_only=entry.leaks_only):
            tally.add_finding(place, finding)
        if entry.status is not None:
            path = entry.path.removeprefix(self.mount) if hop is Hop.CLIENT_TO_PROXY and self.mount else entry.path
            match = contract.match(entry.method, path)
            if match is not None:
                tally.add_status(contract.display_path, match.operation.label, {entry.status})

    @property
    def judged(self) -> int:
        return self.tally.judged

    @property
    def counts(self) -> Counter[Hop]:
        return self.tally.counts

    @property
    def bases(self) -> dict[str, str]:
        return {receiver: origin for receiver, (_, origin) in self.tally.bases.items()}

    def result(self, tally: Tally | None = None) -> PhaseResult:
        """One check per hop of ``tally`` (default: this judge's own), findings the earliest seen first."""
        tally = tally or self.tally
        coverage = Coverage()
        for contract, operations in tally.coverage.items():
            for operation, statuses in operations.items():
                coverage.add(contract, operation, statuses)
        phase = PhaseResult(coverage=coverage)
        for hop in Hop:
            if not tally.counts[hop]:
                continue
            count, name = tally.counts[hop], f"{self.contracts[hop].display_path}"
            phase.checks.append(Check(
                suite=Suite.HOP_JOURNAL, name=f"{hop} ({count} requests)", status=CheckStatus.PASSED,
                cases=count, findings=tally.findings_in_order(hop), note=UnknownNote.REPLACE,
                message=f"{count} recorded requests judged against {name.rsplit('/', 1)[-1]}"))
        return phase
