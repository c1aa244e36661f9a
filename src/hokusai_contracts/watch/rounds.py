"""A round of ``watch``: one live run as the history, the alerts, the metrics and the page keep it.

A round keeps what a report says of the service (verdict, the open causes, each check's success,
latencies) and nothing that holds a secret whole: causes carry the report's curls, whose
credentials are already ``$HOKUSAI_API_KEY``.

A cause is the same cause in every round by its hop, kind, location and contract rule
(``WatchedCause.identity``), never by its id (``C1`` is whatever ranked first that round). Two
things fail a round without being a cause of the report, and are watched as causes all the same,
so that an alert says what broke: a check that failed without a finding (``check_failed``, its
suite and name as location) in a round that has no other cause, and a round that could not run at
all (``round_failed``). Where the report has causes, the checks that failed without a finding are
their consequences (an auth service down fails every key check): alerting on them too would be noise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, Field

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.report.causes import cause_rule
from hokusai_contracts.report.model import CheckStatus, Report

__all__ = ["NO_HOP", "Round", "RoundStatus", "WatchedCause", "round_from_report", "round_that_failed"]

#: The hop of a cause that belongs to no hop: a check failed without a finding, a round that did not run.
NO_HOP = "-"
_FAILED = (CheckStatus.FAILED, CheckStatus.ERROR)


class RoundStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    #: The round could not run (a crash, the report unwritable): ``reason`` says why.
    ERROR = "error"
    #: SIGTERM or Ctrl-C ended it; what it created was cleaned up.
    INTERRUPTED = "interrupted"
    #: Not run: the hourly request budget had too little left.
    SKIPPED = "skipped"


class WatchedCause(BaseModel):
    """One open cause of a round, with what an alert and the page show of it."""

    hop: str
    kind: str
    location: str
    rule: str = ""
    shape: str = ""
    operations: list[str] = Field(default_factory=list)
    count: int = 1
    observed: str = ""
    expected: str = ""
    recommendation: str = ""
    diagnosis: str = Field(default="", description="The round's first diagnosis: category and summary.")
    curl: str | None = None

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.hop, self.kind, self.location, self.rule)

    def title(self) -> str:
        where = f" on {self.hop}" if self.hop != NO_HOP else ""
        return f"{self.kind} at {self.location}{where}"


class Round(BaseModel):
    """One round, as the history stores it (``id`` once stored)."""

    id: int | None = None
    started_at: float
    finished_at: float
    status: RoundStatus
    reason: str = ""
    requests: int = 0
    report_path: str | None = None
    causes: list[WatchedCause] = Field(default_factory=list)
    #: Each suite of checks that ran: all passed (True) or not; a suite only skipped is left out.
    checks: dict[str, bool] = Field(default_factory=dict)
    #: Latency samples in seconds by target (``auth_validate``, ``proxy_read``, ``direct_read``, ``registration``).
    latencies_s: dict[str, list[float]] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    diagnosis: str = ""

    @property
    def seconds(self) -> float:
        return round(self.finished_at - self.started_at, 3)

    @property
    def ran(self) -> bool:
        """It ran to a verdict: its causes replace the open ones."""
        return self.status in (RoundStatus.PASS, RoundStatus.FAIL)

    @property
    def success(self) -> bool | None:
        """1/0 of ``hokusai_contract_run_success``; None for a round that says nothing (interrupted, skipped)."""
        if self.status in (RoundStatus.INTERRUPTED, RoundStatus.SKIPPED):
            return None
        return self.status is RoundStatus.PASS

    def hop_states(self) -> dict[str, str]:
        """Each hop as the page colours it: ``fail`` with an open cause on it, ``ok`` when the round ran clean
        of it, ``unknown`` when the round did not run."""
        failing = {cause.hop for cause in self.causes}
        if not self.ran:
            return {hop.value: "fail" if hop.value in failing else "unknown" for hop in Hop}
        return {hop.value: "fail" if hop.value in failing else "ok" for hop in Hop}


def _check_causes(report: Report, diagnosis: str) -> list[WatchedCause]:
    """Failed checks without any finding: no cause of the report names them."""
    return [WatchedCause(hop=NO_HOP, kind="check_failed", location=f"{check.suite}: {check.name}",
                         observed=check.message[:500], diagnosis=diagnosis,
                         recommendation="See the check in the round's report.")
            for check in report.checks if check.status in _FAILED and not check.finding_ids]


def _suite_success(report: Report) -> dict[str, bool]:
    outcome: dict[str, bool] = {}
    for check in report.checks:
        if check.status is CheckStatus.SKIPPED:
            continue
        outcome[check.suite.value] = outcome.get(check.suite.value, True) and check.status not in _FAILED
    return outcome


def round_from_report(report: Report, started_at: float, *, requests: int, report_path: str | None,
                      latencies_s: Mapping[str, list[float]]) -> Round:
    diagnosis = f"{report.diagnosis[0].category.value}: {report.diagnosis[0].summary}" if report.diagnosis else ""
    causes = [WatchedCause(
        hop=cause.hop.value, kind=cause.kind.value, location=cause.location, rule=cause_rule(cause),
        shape=cause.shape, operations=cause.operations, count=cause.count, observed=cause.observed,
        expected=cause.expected, recommendation=cause.recommendation, diagnosis=diagnosis, curl=cause.reproduction,
    ) for cause in report.causes if not cause.known]
    if not causes:
        causes = _check_causes(report, diagnosis)
    status = RoundStatus.PASS if report.verdict == "pass" else RoundStatus.FAIL
    return Round(started_at=started_at, finished_at=time.time(), status=status, requests=requests,
                 report_path=report_path, causes=causes, checks=_suite_success(report),
                 latencies_s={k: list(v) for k, v in latencies_s.items() if v}, timings=dict(report.timings),
                 diagnosis=diagnosis)


def round_that_failed(started_at: float, status: RoundStatus, reason: str, *, requests: int = 0,
                      report_path: str | None = None) -> Round:
    """A round that reached no verdict; an ``ERROR`` one is watched as the cause ``round_failed``."""
    reason = redact(reason)[:500]
    causes = [WatchedCause(hop=NO_HOP, kind="round_failed", location="round", observed=reason,
                           recommendation="See the watch's log; the next round tries again.")
              ] if status is RoundStatus.ERROR else []
    return Round(started_at=started_at, finished_at=time.time(), status=status, reason=reason, requests=requests,
                 report_path=report_path, causes=causes)
