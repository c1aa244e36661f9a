"""The lines a local run prints for its probes' checks (``run.local_phases._tell``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hokusai_contracts.contracts.deviations import KnownDeviation, KnownDeviations
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.report.phase import Check, PhaseResult, RunState
from hokusai_contracts.run.local_phases import _tell

READ = "GET /api/2.0/mlflow/experiments/search"


def _finding(kind: FindingKind) -> Finding:
    return Finding(hop=Hop.CLIENT_TO_PROXY, operation=READ, kind=kind, location="status", expected="200",
                   observed="404", recommendation="Route it.")


KNOWN = KnownDeviations(deviations=[KnownDeviation(
    id="body-shape", operation=READ, kind=FindingKind.RESPONSE_SCHEMA, reason="reviewed", evidence="run 7",
    reviewed_by="lead", expires=date.today() + timedelta(days=30))])


@pytest.mark.parametrize(("status", "findings", "line"), [
    (CheckStatus.PASSED, [], "✓ Large artifact: told"),
    # The large-artifact probe whose client could not log the file: failed, and no finding of its own.
    (CheckStatus.FAILED, [], "✗ Large artifact: told"),
    (CheckStatus.ERROR, [], "✗ Large artifact: told"),
    (CheckStatus.SKIPPED, [], "- Large artifact: told"),
    (CheckStatus.PASSED, [FindingKind.UNDOCUMENTED_STATUS], "✗ Large artifact: told"),
    # Known deviations are the fold's business: a check with nothing else to say is no ✗.
    (CheckStatus.PASSED, [FindingKind.RESPONSE_SCHEMA], "✓ Large artifact: told"),
], ids=["passed", "failed-without-findings", "error", "skipped", "unknown-finding", "known-finding"])
def test_a_checks_line_has_the_mark_of_its_settled_status(status: CheckStatus, findings: list[FindingKind],
                                                          line: str) -> None:
    said: list[str] = []
    state = RunState(Report(tool_version="t", mode="local"), said.append)
    check = Check(suite=Suite.LARGE_ARTIFACT, name="large_artifact", status=status, message="told",
                  findings=[_finding(kind) for kind in findings])
    _tell(state, PhaseResult(checks=[check]), KNOWN, "Large artifact: ")
    assert said == [line]
