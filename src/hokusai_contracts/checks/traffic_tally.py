"""What judging part of a capture leaves: merged findings, counts, statuses; never the exchanges.

A ``Tally`` is what a partition's task returns and what the whole run ends with. ``merge`` is
associative and commutative: equal findings (hop, operation, kind, location) add their counts and
keep the evidence of the *earliest* exchange (by file, then byte offset), statuses per operation
are unions, the earliest of everything else wins. So the report is the same whether one process
read the capture in order or N workers finished its partitions in any order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.traffic.partitions import Place

__all__ = ["Problem", "Refusal", "Tally"]

#: Problems kept word for word (the earliest); past them, only their number.
SHOWN = 10
#: Stands for the line's number in a problem's text until the line is numbered from the file's start.
WHERE = "{where}"


@dataclass(frozen=True, slots=True)
class Problem:
    """An exchange that could not be judged (unreadable, on no hop), and why."""

    place: Place
    #: The partition's first byte and the line's number counted from there: numbered from the file's start later.
    start: int
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the capture is refused (a whole key, a HAR that is no JSON): exit 2, no report."""

    place: Place
    message: str


_T = TypeVar("_T")


def _earlier(mine: tuple[Place, _T] | None, theirs: tuple[Place, _T]) -> tuple[Place, _T]:
    return theirs if mine is None or theirs[0] < mine[0] else mine


@dataclass
class Tally:
    findings: dict[tuple[str, str, str, str], tuple[Place, Finding]] = field(default_factory=dict)
    counts: Counter[Hop] = field(default_factory=Counter)
    #: contract display path -> operation label -> statuses seen.
    coverage: dict[str, dict[str, set[int]]] = field(default_factory=dict)
    #: Each receiver's base URL as the capture shows it first: where a finding's curl goes.
    bases: dict[str, tuple[Place, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    unmatched: int = 0
    unreadable: int = 0
    #: Lines each partition owned, by (file, first byte): line numbers count from the file's start.
    lines: dict[tuple[int, int], int] = field(default_factory=dict)
    refusal: Refusal | None = None

    @property
    def judged(self) -> int:
        return sum(self.counts.values())

    def add_finding(self, place: Place, finding: Finding) -> None:
        key = finding.identity()
        if key in self.findings:
            first, kept = self.findings[key]
            total = kept.count + finding.count
            first, kept = _earlier((first, kept), (place, finding))
            self.findings[key] = (first, kept.model_copy(update={"count": total}))
        else:
            self.findings[key] = (place, finding)

    def add_status(self, contract: str, operation: str, statuses: set[int]) -> None:
        self.coverage.setdefault(contract, {}).setdefault(operation, set()).update(statuses)

    def add_base(self, receiver: str, place: Place, origin: str) -> None:
        self.bases[receiver] = _earlier(self.bases.get(receiver), (place, origin))

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        self.problems = sorted([*self.problems, problem], key=lambda p: p.place)[:SHOWN]

    def refuse(self, refusal: Refusal) -> None:
        if self.refusal is None or refusal.place < self.refusal.place:
            self.refusal = refusal

    def merge(self, other: Tally) -> Tally:
        """This tally with ``other``'s added (in place; returned for ``functools.reduce``)."""
        for place, finding in other.findings.values():
            self.add_finding(place, finding)
        self.counts.update(other.counts)
        for contract, operations in other.coverage.items():
            for operation, statuses in operations.items():
                self.add_status(contract, operation, statuses)
        for receiver, (place, origin) in other.bases.items():
            self.add_base(receiver, place, origin)
        self.problems = sorted([*self.problems, *other.problems], key=lambda p: p.place)[:SHOWN]
        self.problem_count += other.problem_count
        self.unmatched += other.unmatched
        self.unreadable += other.unreadable
        self.lines.update(other.lines)
        if other.refusal is not None:
            self.refuse(other.refusal)
        return self

    def findings_in_order(self, hop: Hop) -> list[Finding]:
        """``hop``'s findings, the earliest seen first: the order one process reading in order keeps."""
        mine = [(place, finding) for place, finding in self.findings.values() if finding.hop is hop]
        return [finding for _, finding in sorted(mine, key=lambda pair: pair[0])]

    def problem_lines(self, names: list[str]) -> list[str]:
        """The problems kept, each with its file's name and its line counted from the file's start."""
        shown = []
        for problem in self.problems:
            file, start = problem.place[0], problem.start
            before = sum(count for (other, first), count in self.lines.items() if other == file and first < start)
            shown.append(f"{names[file]}: " + problem.text.replace(WHERE, str(before + problem.line)))
        if self.problem_count > len(shown):
            shown.append(f"... and {self.problem_count - len(shown)} more")
        return shown
