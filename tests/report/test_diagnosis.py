"""Root causes from the evidence of a run, ordered by confidence."""

from __future__ import annotations

from hokusai_contracts import DiagnosisCategory, Evidence, Finding, FindingKind, Hop
from hokusai_contracts.report.diagnosis import diagnose
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report


def _finding(hop: Hop, kind: FindingKind, location: str, known: bool = False) -> Finding:
    return Finding(hop=hop, operation="POST /x", kind=kind, location=location, expected="e", observed="o",
                   recommendation="r", known=known)


def _report(*findings: Finding, failed_step: str | None = None, evidence: Evidence | None = None) -> Report:
    """A report with a failed scenario step; ``evidence`` is what the scenario read from its error."""
    checks = [CheckRecord(suite="scenario", name="logistic:connect", status=CheckStatus.FAILED,
                          message=failed_step, evidence=evidence)] if failed_step else []
    return Report(tool_version="t", mode="local", findings=list(findings), checks=checks)


def test_wrong_service_id_is_service_config_first() -> None:
    report = _report(_finding(Hop.PROXY_TO_AUTH, FindingKind.UNKNOWN_VALUE, "body.service_id"),
                     failed_step="RestException: UNAUTHENTICATED: Invalid or expired API key.",
                     evidence=Evidence.KEY_REFUSED_BY_PROXY)
    categories = [d.category for d in diagnose(report)]
    assert categories[0] is DiagnosisCategory.SERVICE_CONFIG
    assert DiagnosisCategory.API_KEY not in categories


def test_key_in_header_is_contract_mismatch_not_api_key() -> None:
    report = _report(_finding(Hop.PROXY_TO_AUTH, FindingKind.MISSING_REQUIRED_FIELD, "body.api_key"),
                     failed_step="RestException: UNAUTHENTICATED: Invalid or expired API key.",
                     evidence=Evidence.KEY_REFUSED_BY_PROXY)
    categories = [d.category for d in diagnose(report)]
    assert categories == [DiagnosisCategory.CONTRACT_MISMATCH]


def test_unreachable_part_is_infrastructure() -> None:
    report = _report(_finding(Hop.CLIENT_TO_AUTH, FindingKind.UNREACHABLE, "connection"),
                     failed_step="RestException: SERVICE_UNAVAILABLE: The auth service is unreachable.",
                     evidence=Evidence.INFRASTRUCTURE_DOWN)
    (first, *_) = diagnose(report)
    assert first.category is DiagnosisCategory.INFRASTRUCTURE and "auth" in first.summary


def test_a_refused_key_with_a_clean_proxy_is_the_key() -> None:
    report = _report(failed_step="RestException: UNAUTHENTICATED: Invalid or expired API key.",
                     evidence=Evidence.KEY_REFUSED_BY_PROXY)
    assert [d.category for d in diagnose(report)] == [DiagnosisCategory.API_KEY]


def test_a_step_down_for_infrastructure_is_infrastructure_without_a_finding() -> None:
    report = _report(failed_step="MlflowException: API request failed", evidence=Evidence.INFRASTRUCTURE_DOWN)
    (first,) = diagnose(report)
    assert first.category is DiagnosisCategory.INFRASTRUCTURE and first.confidence == 0.75


def test_the_diagnosis_reads_evidence_not_messages() -> None:
    # The words that used to decide are in the message, the evidence is not: nothing follows.
    report = _report(failed_step="RestException: UNAUTHENTICATED: 503 SERVICE_UNAVAILABLE timed out")
    assert diagnose(report) == []


def test_known_deviations_are_no_evidence() -> None:
    report = _report(_finding(Hop.CLIENT_TO_PROXY, FindingKind.SERVER_ERROR, "status", known=True))
    assert diagnose(report) == []


def _live_finding(hop: Hop, suite: str, evidence: Evidence | None,
                  observed: str = "401 Invalid or expired API key") -> Finding:
    return Finding(hop=hop, operation="POST /api/v1/keys/validate", kind=FindingKind.AUTH_REJECTED,
                   location="body.api_key", expected="200", observed=observed, recommendation="issue a new key",
                   suite=suite, evidence=evidence)


def test_live_key_refused_by_the_auth_service_is_api_key_first() -> None:
    report = Report(tool_version="t", mode="live", findings=[_live_finding(Hop.CLIENT_TO_AUTH, "auth-service",
                                                                             Evidence.KEY_REFUSED_BY_AUTH)])
    (first, *rest) = diagnose(report)
    assert first.category is DiagnosisCategory.API_KEY and first.confidence >= 0.9
    assert first.recommendation == "issue a new key"
    assert DiagnosisCategory.SERVICE_CONFIG not in [d.category for d in rest]


def test_live_proxy_refusing_a_valid_key_is_service_config_then_contract_mismatch() -> None:
    report = Report(tool_version="t", mode="live", findings=[_live_finding(Hop.CLIENT_TO_PROXY, "bearer-auth",
                                                                             Evidence.PROXY_REFUSES_VALID_KEY)])
    assert [d.category for d in diagnose(report)] == [DiagnosisCategory.SERVICE_CONFIG,
                                                       DiagnosisCategory.CONTRACT_MISMATCH]


def test_outage_reported_as_401_by_the_faults_suite_is_not_service_config() -> None:
    report = Report(tool_version="t", mode="local", findings=[_live_finding(Hop.CLIENT_TO_PROXY, "faults", None)])
    assert DiagnosisCategory.SERVICE_CONFIG not in [d.category for d in diagnose(report)]
