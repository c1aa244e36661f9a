"""The fold: known deviations on every finding whatever phase made it, merging, check statuses, coverage."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from hokusai_contracts import Finding, FindingKind, Hop, Suite
from hokusai_contracts.checks.probes.preflight import run_preflight
from hokusai_contracts.contracts.deviations import KnownDeviation, KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.report.phase import Check, Coverage, PhaseResult, UnknownNote, Verdict
from hokusai_contracts.run.fold import Fold

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 1)


def _finding(kind: FindingKind = FindingKind.TIMEOUT, operation: str = "GET /health", location: str = "connection",
             hop: Hop = Hop.CLIENT_TO_AUTH) -> Finding:
    return Finding(hop=hop, operation=operation, kind=kind, location=location, expected="e", observed="o",
                   recommendation="r")


def _deviations(*entries: KnownDeviation) -> KnownDeviations:
    return KnownDeviations(deviations=list(entries))


def _entry(kind: FindingKind = FindingKind.TIMEOUT, operation: str = "GET /health",
           expires: date = date(2027, 1, 1)) -> KnownDeviation:
    return KnownDeviation(id=f"{kind.value}-{operation}", operation=operation, kind=kind, reason="reviewed",
                          evidence="a run", reviewed_by="us", expires=expires)


def _fold(*entries: KnownDeviation) -> Fold:
    return Fold(Report(tool_version="t", mode="local"), _deviations(*entries), today=TODAY)


# What used to skip the deviations: preflight, faults, the artifact probe, the bearer checks: each
# is a check whose own verdict is fine and whose finding decides. One rule for all of them now.
@pytest.mark.parametrize("suite", [Suite.VERIFY_PROXY, Suite.FAULTS, Suite.LARGE_ARTIFACT, Suite.BEARER_AUTH,
                                   Suite.HOP_JOURNAL, Suite.PROXY, Suite.SPEC_DYNAMIC])
@pytest.mark.parametrize(("known", "status"), [(True, CheckStatus.PASSED), (False, CheckStatus.FAILED)])
def test_known_deviations_apply_to_the_findings_of_every_phase(suite: Suite, known: bool,
                                                               status: CheckStatus) -> None:
    fold = _fold(_entry()) if known else _fold()
    fold.add(PhaseResult(checks=[Check(suite=suite, name="c", status=CheckStatus.PASSED, findings=[_finding()])]))
    (check,) = fold.report.checks
    (finding,) = fold.report.findings
    assert finding.known is known and check.status is status and check.finding_ids == [0]
    assert fold.report.verdict == ("pass" if known else "fail")


def test_a_real_preflight_finding_is_matched_too(tmp_path: Path) -> None:
    # Nothing listens on the discard port: preflight finds the auth service unreachable.
    preflight = run_preflight("http://127.0.0.1:9/api/mlflow", "http://127.0.0.1:9", None, "hk_live_x", timeout=2)
    assert not preflight.healthy
    fold = _fold(KnownDeviation(id="down", operation="* /*", kind=FindingKind.UNREACHABLE, reason="r",
                                evidence="e", reviewed_by="us", expires=date(2027, 1, 1)))
    fold.add(preflight.result())
    assert fold.report.findings and all(f.known for f in fold.report.findings)
    assert {c.status for c in fold.report.checks} == {CheckStatus.PASSED}


def test_loose_findings_are_judged_and_merged_with_equal_ones() -> None:
    fold = _fold(_entry(FindingKind.AUTH_REJECTED, "POST /api/v1/keys/validate"))
    refused = _finding(FindingKind.AUTH_REJECTED, "POST /api/v1/keys/validate", "body.api_key")
    fold.add(PhaseResult(findings=[refused]))
    fold.add(PhaseResult(checks=[Check(suite=Suite.AUTH_SERVICE, name="c", status=CheckStatus.PASSED,
                                       findings=[refused.model_copy(), _finding()])]))
    assert [(f.kind, f.count, f.known) for f in fold.report.findings] == [
        (FindingKind.AUTH_REJECTED, 2, True), (FindingKind.TIMEOUT, 1, False)]
    assert fold.report.checks[0].finding_ids == [0, 1]


@pytest.mark.parametrize(("own", "note", "status", "message"), [
    (CheckStatus.PASSED, UnknownNote.NONE, CheckStatus.FAILED, "own"),
    (CheckStatus.PASSED, UnknownNote.REPLACE, CheckStatus.FAILED, "timeout at connection on GET /health"),
    (CheckStatus.PASSED, UnknownNote.APPEND, CheckStatus.FAILED, "own; timeout at connection"),
    (CheckStatus.SKIPPED, UnknownNote.APPEND, CheckStatus.FAILED, "own; timeout at connection"),
    (CheckStatus.SKIPPED, UnknownNote.REPLACE, CheckStatus.SKIPPED, "own"),
    (CheckStatus.FAILED, UnknownNote.APPEND, CheckStatus.FAILED, "own"),
    (CheckStatus.ERROR, UnknownNote.REPLACE, CheckStatus.ERROR, "own"),
])
def test_an_unknown_finding_fails_a_check_as_its_note_says(own: CheckStatus, note: UnknownNote,
                                                           status: CheckStatus, message: str) -> None:
    fold = _fold()
    fold.add(PhaseResult(checks=[Check(suite=Suite.PROXY, name="c", status=own, message="own", findings=[_finding()],
                                       note=note)]))
    (check,) = fold.report.checks
    assert (check.status, check.message) == (status, message)


def test_a_check_whose_findings_all_turn_out_known_can_settle_otherwise() -> None:
    gate = Verdict(CheckStatus.SKIPPED, "stopped by the gate")
    for entries, status in (((_entry(),), CheckStatus.SKIPPED), ((), CheckStatus.FAILED)):
        fold = _fold(*entries)
        fold.add(PhaseResult(checks=[Check(suite=Suite.PROXY, name="c", status=CheckStatus.PASSED,
                                           findings=[_finding()], note=UnknownNote.REPLACE, if_all_known=gate)]))
        assert fold.report.checks[0].status is status


def test_an_expired_deviation_matches_nothing_and_warns() -> None:
    fold = _fold(_entry(expires=date(2026, 11, 30)))
    fold.add(PhaseResult(checks=[Check(suite=Suite.FAULTS, name="c", status=CheckStatus.PASSED,
                                       findings=[_finding()])]))
    assert fold.report.checks[0].status is CheckStatus.FAILED
    assert len(fold.report.warnings) == 1 and "expired" in fold.report.warnings[0]


def test_coverage_lists_every_operation_only_when_a_phase_saw_some() -> None:
    auth = Contract.load(ROOT / "contracts" / "auth-service.yaml", root=ROOT)
    fold = Fold(Report(tool_version="t", mode="local"), _deviations(), coverage_of=[auth])
    fold.add(PhaseResult())
    assert fold.finish().coverage == []
    fold = Fold(Report(tool_version="t", mode="local"), _deviations(), coverage_of=[auth])
    seen = Coverage()
    seen.add(auth.display_path, "POST /api/v1/keys/validate", [200, 401])
    fold.add(PhaseResult(coverage=seen))
    table = fold.finish().coverage
    assert len(table) == len(auth.operations)
    assert [(c.operation, c.statuses) for c in table if c.exercised] == [("POST /api/v1/keys/validate", [200, 401])]


def test_finish_summarises_diagnoses_and_write_puts_every_file(tmp_path: Path) -> None:
    fold = _fold()
    fold.add(PhaseResult(checks=[Check(suite=Suite.VERIFY_PROXY, name="auth health", status=CheckStatus.PASSED,
                                       findings=[_finding(FindingKind.UNREACHABLE)])],
                         files={"consumers/observed.yaml": "a: 1\n", "extra.json": "{}\n"},
                         timings={"preflight": 1.5}, metrics={"m": 2.0}, warnings=["w"]))
    report = fold.finish()
    assert [(s.name, s.failed) for s in report.suites] == [(Suite.VERIFY_PROXY, 1)]
    assert report.diagnosis[0].category.value == "infrastructure"
    written = {p.relative_to(tmp_path).as_posix() for p in fold.write(tmp_path)}
    assert written == {"contract-report.json", "junit.xml", "contract-report.md", "consumers/observed.yaml",
                       "extra.json"}
    document = json.loads((tmp_path / "contract-report.json").read_text())
    assert document["timings"] == {"preflight": 1.5} and document["warnings"] == ["w"]
    assert document["checks"][0]["suite"] == "verify-proxy" and document["findings"][0]["suite"] is None
