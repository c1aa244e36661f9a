"""A report becomes a round: its unknown causes by identity, each suite's success, what the page colours."""

from __future__ import annotations

from hokusai_contracts.domain.findings import ContractRef, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.causes import build_causes
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report
from hokusai_contracts.watch.rounds import NO_HOP, RoundStatus, round_from_report, round_that_failed


def _finding(operation: str, known: bool = False) -> Finding:
    return Finding(hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.UNDOCUMENTED_STATUS,
                   location="status", expected="200 or 401", observed="403 {}", recommendation="document it",
                   contract=ContractRef(file="contracts/mlflow-proxy.yaml",
                                        pointer=f"/paths/~1x{operation[-1]}/get/responses"), known=known,
                   reproduction="curl -sS 'https://proxy.example/x' -H 'Authorization: Bearer $HOKUSAI_API_KEY'")


def _report(checks: list[CheckRecord], findings: list[Finding]) -> Report:
    report = Report(tool_version="0", mode="live", checks=checks, findings=findings)
    report.causes = build_causes(report.findings)
    return report


def test_one_defect_on_two_operations_is_one_cause_known_ones_are_left_out() -> None:
    report = _report([CheckRecord(suite=Suite.BEARER_AUTH, name="read", status=CheckStatus.FAILED, finding_ids=[0]),
                      CheckRecord(suite=Suite.SCENARIO, name="steps", status=CheckStatus.PASSED),
                      CheckRecord(suite=Suite.SUITES, name="skipped", status=CheckStatus.SKIPPED)],
                     [_finding("GET /a"), _finding("GET /b"), _finding("GET /c", known=True)])
    latest = round_from_report(report, 100.0, requests=42, report_path="r", latencies_s={"proxy_read": [0.1],
                                                                                         "registration": []})
    assert latest.status is RoundStatus.FAIL and latest.requests == 42
    (cause,) = latest.causes
    assert cause.identity == ("client->proxy", "undocumented_status", "status",
                              "contracts/mlflow-proxy.yaml#/responses")
    assert cause.operations == ["GET /a", "GET /b"] and cause.curl and "$HOKUSAI_API_KEY" in cause.curl
    assert latest.checks == {"bearer-auth": False, "scenario": True}  # a suite only skipped says nothing
    assert latest.latencies_s == {"proxy_read": [0.1]}
    assert latest.hop_states()["client->proxy"] == "fail" and latest.hop_states()["proxy->mlflow"] == "ok"


def test_a_failed_check_without_a_finding_is_a_cause_only_when_nothing_else_explains_it() -> None:
    cleanup = CheckRecord(suite=Suite.CLEANUP, name="delete what the run created", status=CheckStatus.FAILED,
                          message="could not delete registered model contract-probe-1: 503")
    alone = round_from_report(_report([cleanup], []), 1.0, requests=1, report_path=None, latencies_s={})
    assert [(c.hop, c.kind, c.location) for c in alone.causes] == [
        (NO_HOP, "check_failed", "cleanup: delete what the run created")]
    explained = round_from_report(_report([cleanup], [_finding("GET /a")]), 1.0, requests=1, report_path=None,
                                  latencies_s={})
    assert [c.kind for c in explained.causes] == ["undocumented_status"]


def test_a_round_that_did_not_run_colours_nothing_green() -> None:
    crashed = round_that_failed(1.0, RoundStatus.ERROR, "OSError: hk_live_" + "a" * 32 + " in a message")
    assert crashed.success is False and set(crashed.hop_states().values()) == {"unknown"}
    assert "hk_live_" + "a" * 32 not in crashed.reason  # masked like everything the watch keeps
    interrupted = round_that_failed(1.0, RoundStatus.INTERRUPTED, "SIGTERM")
    assert interrupted.success is None and interrupted.causes == []
