"""Root causes over a whole run: from findings and failed checks to the seeds' categories.

The seeds' engineers sorted every failure into one of five causes by hand;
these rules do the same from the evidence a run collected. More than one may
apply; they come out ordered by confidence. Known deviations are evidence of
nothing: they are expected.

The rules read structured evidence only: a finding's hop, kind, location and the status of its
exchange, and the ``evidence`` field the check that made a finding or a check set (``Evidence``).
Never a message: messages are written for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hokusai_contracts.domain.findings import Diagnosis, DiagnosisCategory, Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report

__all__ = ["diagnose"]

_REQUEST_BREAKS = {FindingKind.MISSING_REQUIRED_FIELD, FindingKind.REQUEST_SCHEMA, FindingKind.UNDECLARED_CREDENTIAL,
                   FindingKind.MISSING_CREDENTIAL,
                   FindingKind.CONTENT_TYPE, FindingKind.UNKNOWN_OPERATION}
_CONTRACT_KINDS = _REQUEST_BREAKS | {FindingKind.UNDOCUMENTED_STATUS, FindingKind.RESPONSE_SCHEMA,
                                     FindingKind.MISSING_HEADER, FindingKind.DIFFERS_FROM_UPSTREAM,
                                     FindingKind.CREDENTIAL_LEAK, FindingKind.NEGATIVE_DATA_ACCEPTED,
                                     FindingKind.REJECTED_VALID_REQUEST, FindingKind.IGNORED_AUTH}


def _evidence(findings: Iterable[Finding], limit: int = 5) -> list[str]:
    return [f"[{f.hop}] {f.operation}: {f.kind.value} at {f.location}; observed {f.observed[:160]}"
            for f in list(findings)[:limit]]


def _server_answer(finding: Finding) -> bool:
    """A status finding on a 5xx answer (a load balancer's 503 page, say)."""
    status = finding.exchanges[0].status if finding.exchanges else None
    return finding.location == "status" and status is not None and status >= 500


def _check_evidence(checks: Iterable[CheckRecord], limit: int = 3) -> list[str]:
    return [f"{c.suite} {c.name}: {c.message[:160]}" for c in list(checks)[:limit]]


def diagnose(report: Report) -> list[Diagnosis]:
    unknown = [f for f in report.findings if not f.known]
    failed = [c for c in report.checks if c.status in (CheckStatus.FAILED, CheckStatus.ERROR)]
    diagnoses: list[Diagnosis] = []

    def pick(rule: Callable[[Finding], bool]) -> list[Finding]:
        return [f for f in unknown if rule(f)]

    unreachable = pick(lambda f: f.kind in (FindingKind.UNREACHABLE, FindingKind.TIMEOUT))
    infra_steps = [c for c in failed if c.evidence is Evidence.INFRASTRUCTURE_DOWN]
    if unreachable or infra_steps:
        parts = sorted({f.hop.receiver for f in unreachable})
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.INFRASTRUCTURE, confidence=0.9 if unreachable else 0.75,
            summary=("unreachable or timing out: " + ", ".join(parts)) if parts
            else "a service on the path is down or unreachable (the proxy answered 502/503/504)",
            evidence=_evidence(unreachable) + _check_evidence(infra_steps),
            recommendation="Check the health of the part named (and its load balancer) before touching keys or code.",
        ))

    key_refused = pick(lambda f: f.evidence is Evidence.KEY_REFUSED_BY_AUTH)
    if key_refused:
        # The auth service itself, asked directly, refuses the key: nothing downstream can fix that.
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.API_KEY, confidence=0.95,
            summary="the auth service refuses the key for 'platform': " + key_refused[0].observed[:200],
            evidence=_evidence(key_refused), recommendation=key_refused[0].recommendation,
        ))
    proxy_refuses = pick(lambda f: f.evidence is Evidence.PROXY_REFUSES_VALID_KEY)
    if proxy_refuses and not key_refused:
        # The key validates directly for 'platform', yet the proxy refuses it: the proxy asks the auth
        # service something else. Most often the wrong service id (incident 2); else the key sent
        # where the contract does not want it (incident 1). A 403 (whatever its body) is the proxy
        # saying the key is known but not allowed: most often a scope it requires that the key lacks.
        forbidden = [f for f in proxy_refuses if f.exchanges and f.exchanges[0].status == 403]
        if forbidden:
            diagnoses.append(Diagnosis(
                category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.85,
                summary="the proxy answers 403 to a valid 'platform' key (scopes read, write): it requires "
                        "scopes or a plan the third-party platform keys do not have, or validates for another "
                        "service id",
                evidence=_evidence(forbidden),
                recommendation="Compare the scopes the proxy requires with the scopes of a platform key "
                               "(read, write in mocks/fake_auth/keys.yaml) and its service id with 'platform'.",
            ))
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.8,
            summary="the key is valid for 'platform' when the auth service is asked directly, but the proxy "
                    "rejects it: the proxy most likely validates for another service id",
            evidence=_evidence(proxy_refuses),
            recommendation="Check the proxy's service id setting (AUTH_SERVICE_ID or equivalent): it must be "
                           "'platform' in the validate call.",
        ))
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.CONTRACT_MISMATCH, confidence=0.65,
            summary="the key validates directly but the proxy rejects it: the proxy's validate call may not "
                    "follow the auth contract (key in a header instead of the body)",
            evidence=_evidence(proxy_refuses),
            recommendation="Compare the proxy's validate request with contracts/auth-service.yaml: "
                           "body {api_key, service_id}.",
        ))

    wrong_service = pick(lambda f: f.kind is FindingKind.UNKNOWN_VALUE and f.location.endswith("service_id"))
    if wrong_service:
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.9,
            summary="the proxy asks the auth service about a service id it does not issue keys for",
            evidence=_evidence(wrong_service),
            recommendation="Set the proxy's service id (AUTH_SERVICE_ID) to `platform`, in validate and usage calls.",
        ))

    broken = pick(lambda f: f.kind in _CONTRACT_KINDS and f not in proxy_refuses)
    if diagnoses and diagnoses[0].category is DiagnosisCategory.INFRASTRUCTURE:
        # A load balancer's 503 page is not a schema violation worth a second diagnosis.
        broken = [f for f in broken if not _server_answer(f)]
    if broken:
        sent = [f for f in broken if f.hop in (Hop.PROXY_TO_AUTH, Hop.PROXY_TO_MLFLOW)
                and f.kind in _REQUEST_BREAKS | {FindingKind.CREDENTIAL_LEAK}]
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.CONTRACT_MISMATCH, confidence=0.85 if sent else 0.7,
            summary=f"{len(broken)} contract violation(s), {len(sent)} of them in what the proxy sends",
            evidence=_evidence(sent or broken),
            recommendation="Fix the sending side named in each finding, or record a reviewed known deviation.",
        ))

    server_errors = pick(lambda f: f.kind is FindingKind.SERVER_ERROR and f.hop is Hop.CLIENT_TO_PROXY)
    if server_errors and not unreachable:
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.CODE_BUG, confidence=0.6,
            summary="the proxy answers 5xx while its upstreams answer",
            evidence=_evidence(server_errors),
            recommendation="Reproduce with the curl in the finding and fix the proxy's handling of that request.",
        ))

    rejected = [c for c in failed if c.evidence is Evidence.KEY_REFUSED_BY_PROXY]
    if rejected and not (key_refused or proxy_refuses or wrong_service
                         or any(f.hop is Hop.PROXY_TO_AUTH for f in broken)):
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.API_KEY, confidence=0.6,
            summary="the key is refused and the proxy's call to the auth service follows the contract",
            evidence=_check_evidence(rejected),
            recommendation="Check the key with the auth service directly: unknown, expired, revoked or for "
                           "another service.",
        ))
    return sorted(diagnoses, key=lambda d: d.confidence, reverse=True)
