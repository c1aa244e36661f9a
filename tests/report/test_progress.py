"""Progress: ticks on a terminal, one line per phase in a CI log; the suites' lines carry their verdict."""

from __future__ import annotations

import time

from hokusai_contracts import Finding, FindingKind, Hop, Suite
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.domain.names import PhaseName
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.report.progress import Progress, report_progress
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.pipeline import Step, run_phases


def _slow(state: object) -> PhaseResult:
    for done in range(1, 5):
        report_progress(f"{done}/4 operations, 1 failing")
        time.sleep(0.06)
    return PhaseResult()


def _run(tty: bool) -> list[str]:
    lines: list[str] = []
    fold = Fold(Report(tool_version="t", mode="local"), KnownDeviations(deviations=[]), diagnosis=None)
    progress = Progress(lines.append, tty=tty, interval=0.05)
    run_phases([Step(PhaseName.SUITES, _slow)], fold, lines.append, progress=progress)
    return lines


def test_a_terminal_gets_a_line_at_every_interval_with_the_phases_count() -> None:

    lines = _run(tty=True)
    ticks = [line for line in lines if line.startswith("  … suites: ")]
    assert len(ticks) >= 3, lines
    assert any("/4 operations, 1 failing" in line for line in ticks)


def test_a_ci_log_gets_no_ticks() -> None:
    lines = _run(tty=False)
    assert not [line for line in lines if line.startswith("  …")]


def test_a_suites_line_says_its_failed_checks_and_unknown_findings() -> None:
    lines: list[str] = []
    fold = Fold(Report(tool_version="t", mode="local"), KnownDeviations(deviations=[]), diagnosis=None,
                out=lines.append)
    finding = Finding(hop=Hop.CLIENT_TO_PROXY, operation="GET /x", kind=FindingKind.SERVER_ERROR, location="status",
                      expected="e", observed="o", recommendation="r")
    fold.add(PhaseResult(announce_suites=True, checks=[
        Check(suite=Suite.PROXY, name="a", status=CheckStatus.PASSED, findings=[finding]),
        Check(suite=Suite.PROXY, name="b", status=CheckStatus.PASSED),
        Check(suite=Suite.STATEFUL, name="c", status=CheckStatus.PASSED)]))
    assert lines == ["✗ proxy: 2 checks, 1 failed, 1 unknown findings", "✓ stateful: 1 checks, 0 failed, "
                     "0 unknown findings"]
