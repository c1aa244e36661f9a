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


def test_live_proxy_refusing_a_valid_key_without_a_journal_names_both_causes_once() -> None:
    report = Report(tool_version="t", mode="live", findings=[_live_finding(Hop.CLIENT_TO_PROXY, "bearer-auth",
                                                                             Evidence.PROXY_REFUSES_VALID_KEY)])
    (only,) = diagnose(report)
    assert only.category is DiagnosisCategory.SERVICE_CONFIG and only.confidence == 0.6
    assert "service id" in only.summary and "no journal" in only.summary


def test_outage_reported_as_401_by_the_faults_suite_is_not_service_config() -> None:
    report = Report(tool_version="t", mode="local", findings=[_live_finding(Hop.CLIENT_TO_PROXY, "faults", None)])
    assert DiagnosisCategory.SERVICE_CONFIG not in [d.category for d in diagnose(report)]


def test_a_proxy_answering_403_to_a_valid_platform_key_is_diagnosed_by_scopes_whatever_its_body() -> None:
    from hokusai_contracts.domain.findings import Exchange

    finding = _live_finding(Hop.CLIENT_TO_PROXY, "bearer-auth", Evidence.PROXY_REFUSES_VALID_KEY)
    # A body no rule may read: the diagnosis goes by the evidence and the status only.
    finding.exchanges = [Exchange(method="GET", url="/x", status=403, response_body="<html>nope</html>")]
    first = diagnose(Report(tool_version="t", mode="local", findings=[finding]))[0]
    assert first.category is DiagnosisCategory.SERVICE_CONFIG and "scopes" in first.summary


def _forbidden(body: str, scopes: list[str] | None = None) -> Finding:
    from hokusai_contracts.domain.findings import Exchange

    finding = _live_finding(Hop.CLIENT_TO_PROXY, "bearer-auth", Evidence.PROXY_REFUSES_VALID_KEY, "403 ...")
    finding.exchanges = [Exchange(method="GET", url="/x", status=403, response_body=body)]
    finding.key_scopes = scopes
    return finding


ADMIN_REQUIRED = '{"detail": "Admin access required for the model registry", "error": "REGISTRY_ADMIN_REQUIRED"}'


def test_a_403_of_the_proxys_own_policy_quotes_its_reason_and_the_keys_scopes_and_nothing_else() -> None:
    # Production's proxy since 2026-06-30, asked by a plain platform key; its journal shows 'platform'.
    report = Report(tool_version="t", mode="local", findings=[_forbidden(ADMIN_REQUIRED, ["read", "write"])])
    (only,) = diagnose(report)
    assert only.category is DiagnosisCategory.SERVICE_CONFIG
    assert "REGISTRY_ADMIN_REQUIRED" in only.summary and "Admin access required" in only.summary
    assert "scopes read, write" in only.summary and "service id" not in only.summary


def test_the_service_id_explanation_needs_a_journal_showing_another_service_id() -> None:
    other = Finding(hop=Hop.PROXY_TO_AUTH, operation="POST /api/v1/keys/validate", kind=FindingKind.UNKNOWN_VALUE,
                    location="body.service_id", expected="'platform'", observed="'website'", recommendation="r",
                    evidence=Evidence.OTHER_SERVICE_ID)
    refused = _live_finding(Hop.CLIENT_TO_PROXY, "bearer-auth", Evidence.PROXY_REFUSES_VALID_KEY)
    summaries = [d.summary for d in diagnose(Report(tool_version="t", mode="local", findings=[refused, other]))]
    assert any("another service id" in s for s in summaries)
    assert not any("no journal" in s for s in summaries)


def test_a_proxy_error_code_body_is_quoted_too() -> None:
    body = '{"error_code": "PERMISSION_DENIED", "message": "The API key may not use the MLflow registry."}'
    (only,) = diagnose(Report(tool_version="t", mode="local", findings=[_forbidden(body, [])]))
    assert "PERMISSION_DENIED" in only.summary and "no scopes" in only.summary
