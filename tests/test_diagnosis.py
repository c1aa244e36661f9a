"""Root causes from the evidence of a run, ordered by confidence."""

from __future__ import annotations

from hokusai_contracts import DiagnosisCategory, Finding, FindingKind, Hop
from hokusai_contracts.diagnosis import diagnose
from hokusai_contracts.report import CheckRecord, CheckStatus, Report


def _finding(hop: Hop, kind: FindingKind, location: str, known: bool = False) -> Finding:
    return Finding(hop=hop, operation="POST /x", kind=kind, location=location, expected="e", observed="o",
                   recommendation="r", known=known)


def _report(*findings: Finding, failed_step: str | None = None) -> Report:
    checks = [CheckRecord(suite="scenario", name="logistic:connect", status=CheckStatus.FAILED,
                          message=failed_step)] if failed_step else []
    return Report(tool_version="t", mode="local", findings=list(findings), checks=checks)


def test_wrong_service_id_is_service_config_first() -> None:
    report = _report(_finding(Hop.PROXY_TO_AUTH, FindingKind.UNKNOWN_VALUE, "body.service_id"),
                     failed_step="RestException: UNAUTHENTICATED: Invalid or expired API key.")
    categories = [d.category for d in diagnose(report)]
    assert categories[0] is DiagnosisCategory.SERVICE_CONFIG
    assert DiagnosisCategory.API_KEY not in categories


def test_key_in_header_is_contract_mismatch_not_api_key() -> None:
    report = _report(_finding(Hop.PROXY_TO_AUTH, FindingKind.MISSING_REQUIRED_FIELD, "body.api_key"),
                     failed_step="RestException: UNAUTHENTICATED: Invalid or expired API key.")
    categories = [d.category for d in diagnose(report)]
    assert categories == [DiagnosisCategory.CONTRACT_MISMATCH]


def test_unreachable_part_is_infrastructure() -> None:
    report = _report(_finding(Hop.CLIENT_TO_AUTH, FindingKind.UNREACHABLE, "connection"),
                     failed_step="RestException: SERVICE_UNAVAILABLE: The auth service is unreachable.")
    (first, *_) = diagnose(report)
    assert first.category is DiagnosisCategory.INFRASTRUCTURE and "auth" in first.summary


def test_a_refused_key_with_a_clean_proxy_is_the_key() -> None:
    report = _report(failed_step="RestException: UNAUTHENTICATED: Invalid or expired API key.")
    assert [d.category for d in diagnose(report)] == [DiagnosisCategory.API_KEY]


def test_known_deviations_are_no_evidence() -> None:
    report = _report(_finding(Hop.CLIENT_TO_PROXY, FindingKind.SERVER_ERROR, "status", known=True))
    assert diagnose(report) == []
