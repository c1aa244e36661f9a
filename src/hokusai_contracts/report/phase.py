"""What a phase of a run hands the fold: checks with their findings, timings, metrics, warnings.

A phase never writes the report. It returns a ``PhaseResult``; the run's fold (``run.fold``)
applies the known deviations to every finding in it, merges equal findings, and only then
decides each check's status. So a check states its *own* verdict (``Check.status``: did the
thing it tried work?) and how an unknown finding shows in its message (``UnknownNote``); whether
a finding is known is the fold's business alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Evidence, Finding
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus, ReplayedExchange, Report, Targets

__all__ = ["Check", "Coverage", "Phase", "PhaseResult", "RunFacts", "RunState", "UnknownNote", "Verdict"]


class UnknownNote(StrEnum):
    """How the findings the fold leaves unknown fail a check, and show in its message."""

    #: The message already tells what was seen (a probe names the answer): it stays as it is.
    NONE = "none"
    #: A passed test's message becomes the list of its unknown findings (the suites).
    REPLACE = "replace"
    #: The list follows the check's own message (the live checks).
    APPEND = "append"


@dataclass(frozen=True)
class Verdict:
    status: CheckStatus
    message: str


@dataclass
class Check:
    """One check as its phase judged it, with the findings it made; the fold makes it a ``CheckRecord``."""

    suite: Suite
    name: str
    #: The check's own verdict, its findings aside: an unknown finding fails a PASSED (or, with
    #: ``UnknownNote.APPEND``, a SKIPPED) check; FAILED and ERROR stand whatever the findings.
    status: CheckStatus
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    operation: str | None = None
    seconds: float = 0.0
    cases: int = 0
    evidence: Evidence | None = None
    note: UnknownNote = UnknownNote.NONE
    #: The verdict when every finding turns out known: a live test whose other findings were the
    #: gate's doing, not the service's, is skipped rather than passed.
    if_all_known: Verdict | None = None
    #: Print the check's line (``✓ [suite] name: message``) once the fold has settled its status.
    announce: bool = False


@dataclass
class Coverage:
    """Statuses seen per contract operation: contract display path -> ``METHOD /path`` -> statuses."""

    seen: dict[str, dict[str, set[int]]] = field(default_factory=dict)

    def add(self, contract: str, operation: str, statuses: Iterable[int]) -> None:
        self.seen.setdefault(contract, {}).setdefault(operation, set()).update(statuses)

    def merge(self, other: Coverage) -> None:
        for contract, operations in other.seen.items():
            for operation, statuses in operations.items():
                self.add(contract, operation, statuses)


@dataclass
class PhaseResult:
    checks: list[Check] = field(default_factory=list)
    #: Findings no single check owns (a conclusion drawn over several checks).
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Statuses seen per operation; a run whose phases report none has no coverage table.
    coverage: Coverage | None = None
    #: Where the run's parts answer, once a phase knows (the stack is up).
    targets: Targets | None = None
    #: More files for the report directory, by name (``spec-changes.json``, ``performance.json``).
    files: dict[str, str] = field(default_factory=dict)
    #: The run cannot go on (a live run's budget is spent): only the phases that always run follow.
    stop: bool = False
    #: REPLAY=: each recorded exchange sent again, and whether its answer was reproduced.
    replay: list[ReplayedExchange] = field(default_factory=list)
    #: Print one verdict line per suite of these checks once folded (failed checks, unknown findings).
    announce_suites: bool = False

    def extend(self, other: PhaseResult) -> PhaseResult:
        """Add ``other`` to this result (for a phase made of smaller ones); returns self."""
        self.checks += other.checks
        self.findings += other.findings
        self.timings.update(other.timings)
        self.metrics.update(other.metrics)
        self.warnings += other.warnings
        if other.coverage is not None:
            if self.coverage is None:
                self.coverage = Coverage()
            self.coverage.merge(other.coverage)
        self.targets = other.targets or self.targets
        self.files.update(other.files)
        self.replay += other.replay
        self.stop = self.stop or other.stop
        self.announce_suites = self.announce_suites or other.announce_suites
        return self


@dataclass
class RunFacts:
    """What phases learn that later phases decide by; each is set by the phase that learns it.

    On the run state, not on the run's object: a phase and its ``when`` read them from the one
    thing they are given, and every fact a phase can act on is listed here.
    """

    #: What preflight found down or too slow (empty: every part answered, or no preflight ran).
    parts_down: list[Finding] = field(default_factory=list)
    #: The credential probes saw the proxy refuse the valid key: later probes would only see that again.
    key_refused: bool = False
    #: The proxy->MLflow journal's entries before the suites: a real client's requests, judged in full.
    scenario_entries: int = 0
    #: The client->proxy journal's entries before the suites: the answers real clients got, judged in full
    #: from ``replayed_entries`` on (a replay's are the recording's requests, judged by the replay).
    client_entries: int = 0
    replayed_entries: int = 0
    #: The replayed client requests the proxy's contract does not allow as sent: what the proxy
    #: forwarded while one was under way is judged for leaks only, as the run that recorded it did.
    replayed_outside_contract: tuple[HttpExchange, ...] = ()
    #: How many suite tests ran.
    suite_tests: int = 0

    @property
    def healthy(self) -> bool:
        # A part that is down is down, whatever a known deviation says about its answer.
        return not self.parts_down

    def up(self, part: str) -> bool:
        """Whether ``part`` (``auth``, ``mlflow``, ``proxy``) answered preflight: no finding on a hop it receives."""
        return not any(finding.hop.receiver == part for finding in self.parts_down)


@dataclass
class RunState:
    """What a phase may read of the run so far: the report as folded until now, the output, the facts."""

    report: Report
    out: Callable[[str], None]
    facts: RunFacts = field(default_factory=RunFacts)


class Phase(Protocol):
    """One step of a run. ``due`` is asked when its turn comes; ``always`` runs it even after a
    phase stopped the run (a live run's cleanup)."""

    @property
    def name(self) -> PhaseName: ...

    @property
    def always(self) -> bool: ...

    def due(self, state: RunState) -> bool: ...

    def run(self, state: RunState) -> PhaseResult: ...
