"""Root causes over a whole run: from findings and failed checks to the seeds' categories.

The seeds' engineers sorted every failure into one of five causes by hand;
these rules do the same from the evidence a run collected. More than one may
apply; they come out ordered by confidence. Known deviations are evidence of
nothing: they are expected.

The rules read structured evidence only: a finding's hop, kind, location and the status of its
exchange, the ``evidence`` field the check that made a finding or a check set (``Evidence``), the
scopes the auth service gave the key (``key_scopes``), and a refusal's own JSON body (what the
proxy said, as data: ``error``/``error_code`` and ``detail``/``message``). Never a message of ours:
messages are written for people.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
#: The hops on which a sender asks the auth service about keys (the proxy, and a gateway before MLflow).
_TO_AUTH = (Hop.PROXY_TO_AUTH, Hop.MLFLOW_TO_AUTH)


def _evidence(findings: Iterable[Finding], limit: int = 5) -> list[str]:
    return [f"[{f.hop}] {f.operation}: {f.kind.value} at {f.location}; observed {f.observed[:160]}"
            for f in list(findings)[:limit]]


def _server_answer(finding: Finding) -> bool:
    """A status finding on a 5xx answer (a load balancer's 503 page, say)."""
    status = finding.exchanges[0].status if finding.exchanges else None
    return finding.location == "status" and status is not None and status >= 500


def _check_evidence(checks: Iterable[CheckRecord], limit: int = 3) -> list[str]:
    return [f"{c.suite} {c.name}: {c.message[:160]}" for c in list(checks)[:limit]]


@dataclass(frozen=True)
class _Run:
    """What the rules read: the run's unknown findings and failed checks."""

    unknown: list[Finding]
    failed: list[CheckRecord]

    def pick(self, rule: Callable[[Finding], bool]) -> list[Finding]:
        return [f for f in self.unknown if rule(f)]


def diagnose(report: Report) -> list[Diagnosis]:
    run = _Run([f for f in report.findings if not f.known],
               [c for c in report.checks if c.status in (CheckStatus.FAILED, CheckStatus.ERROR)])
    diagnoses = _infrastructure(run)
    key_refused = run.pick(lambda f: f.evidence is Evidence.KEY_REFUSED_BY_AUTH)
    proxy_refuses = run.pick(lambda f: f.evidence is Evidence.PROXY_REFUSES_VALID_KEY)
    wrong_service = run.pick(lambda f: f.evidence is Evidence.OTHER_SERVICE_ID or (
        f.kind is FindingKind.UNKNOWN_VALUE and f.location.endswith("service_id")))
    if key_refused:
        # The auth service itself, asked directly, refuses the key: nothing downstream can fix that.
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.API_KEY, confidence=0.95,
            summary="the auth service refuses the key for 'platform': " + key_refused[0].observed[:200],
            evidence=_evidence(key_refused), recommendation=key_refused[0].recommendation,
        ))
    broken = run.pick(lambda f: f.kind in _CONTRACT_KINDS and f not in proxy_refuses)
    if proxy_refuses and not key_refused:
        diagnoses += _proxy_refuses(proxy_refuses, wrong_service, broken)
    if wrong_service:
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.9,
            summary="the proxy asks the auth service about a service id other than 'platform'",
            evidence=_evidence(wrong_service),
            recommendation="Set the proxy's service id (AUTH_SERVICE_ID) to `platform`, in validate and usage calls.",
        ))
    if diagnoses and diagnoses[0].category is DiagnosisCategory.INFRASTRUCTURE:
        # A load balancer's 503 page is not a schema violation worth a second diagnosis.
        broken = [f for f in broken if not _server_answer(f)]
    diagnoses += _contract_violations(broken)
    diagnoses += _code_bugs(run)
    rejected = [c for c in run.failed if c.evidence is Evidence.KEY_REFUSED_BY_PROXY]
    if rejected and not (key_refused or proxy_refuses or wrong_service or any(f.hop in _TO_AUTH for f in broken)):
        diagnoses.append(Diagnosis(
            category=DiagnosisCategory.API_KEY, confidence=0.6,
            summary="the key is refused and the proxy's call to the auth service follows the contract",
            evidence=_check_evidence(rejected),
            recommendation="Check the key with the auth service directly: unknown, expired, revoked or for "
                           "another service.",
        ))
    return sorted(diagnoses, key=lambda d: d.confidence, reverse=True)


def _infrastructure(run: _Run) -> list[Diagnosis]:
    unreachable = run.pick(lambda f: f.kind in (FindingKind.UNREACHABLE, FindingKind.TIMEOUT))
    infra_steps = [c for c in run.failed if c.evidence is Evidence.INFRASTRUCTURE_DOWN]
    if not (unreachable or infra_steps):
        return []
    parts = sorted({f.hop.receiver for f in unreachable})
    return [Diagnosis(
        category=DiagnosisCategory.INFRASTRUCTURE, confidence=0.9 if unreachable else 0.75,
        summary=("unreachable or timing out: " + ", ".join(parts)) if parts
        else "a service on the path is down or unreachable (the proxy answered 502/503/504)",
        evidence=_evidence(unreachable) + _check_evidence(infra_steps),
        recommendation="Check the health of the part named (and its load balancer) before touching keys or code.",
    )]


def _proxy_refuses(refusals: list[Finding], wrong_service: list[Finding], broken: list[Finding]) -> list[Diagnosis]:
    """A key the auth service accepts, refused by the proxy: by its own policy (a 403 says why), for another
    service id (only when a journal shows it asking for one), or by a validate call off the contract."""
    found: list[Diagnosis] = []
    forbidden = [f for f in refusals if f.exchanges and f.exchanges[0].status == 403]
    if forbidden:
        found.append(_own_policy(forbidden))
    if wrong_service:
        found.append(Diagnosis(
            category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.8,
            summary="the key is valid for 'platform' when the auth service is asked directly, but the proxy "
                    "rejects it, and its journal shows it asking the auth service about another service id",
            evidence=_evidence(refusals) + _evidence(wrong_service, 2),
            recommendation="Check the proxy's service id setting (AUTH_SERVICE_ID or equivalent): it must be "
                           "'platform' in the validate call.",
        ))
    off_contract = [f for f in broken if f.hop in _TO_AUTH and f.kind in _REQUEST_BREAKS]
    refused = [f for f in refusals if f not in forbidden]
    if refused and not (wrong_service or off_contract):
        # No journal of the proxy's calls says which (a live run has none): both common causes, lower.
        found.append(Diagnosis(
            category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.6,
            summary="the key is valid for 'platform' when the auth service is asked directly, but the proxy "
                    "rejects it: it asks the auth service something else (another service id, or the key "
                    "where the contract does not take it); no journal of its calls shows which",
            evidence=_evidence(refused),
            recommendation="Check the proxy's service id setting (it must be 'platform') and that its validate "
                           "request follows contracts/auth-service.yaml: body {api_key, service_id}.",
        ))
    if off_contract:
        found.append(Diagnosis(
            category=DiagnosisCategory.CONTRACT_MISMATCH, confidence=0.65,
            summary="the key validates directly but the proxy rejects it, and its validate call does not follow "
                    "the auth contract",
            evidence=_evidence(refusals, 2) + _evidence(off_contract, 3),
            recommendation="Compare the proxy's validate request with contracts/auth-service.yaml: "
                           "body {api_key, service_id}.",
        ))
    return found


def _own_policy(forbidden: list[Finding]) -> Diagnosis:
    """A 403 for a key the auth service accepts: the proxy's own rule, in its own words."""
    first = forbidden[0]
    code, detail = _refusal_words(first)
    scopes = first.key_scopes
    held = f"scopes {', '.join(scopes)}" if scopes else "no scopes" if scopes == [] else "scopes unknown"
    said = " ".join(part for part in (code, f'"{detail}"' if detail else None) if part) or "no reason in its body"
    return Diagnosis(
        category=DiagnosisCategory.SERVICE_CONFIG, confidence=0.85,
        summary=f"the proxy's own policy refuses a key the auth service accepts ({held}): 403 {said}",
        evidence=_evidence(forbidden),
        recommendation=f"The proxy requires more than this key holds ({held}); it says {said}. Give the key "
                       "what that policy asks for (for REGISTRY_ADMIN_REQUIRED: an admin scope or role such as "
                       "admin or mlflow:admin), or change the policy if third parties must pass it.",
    )


def _refusal_words(finding: Finding) -> tuple[str | None, str | None]:
    """The refusal's code and text from its JSON body ({error, detail} or {error_code, message}), if any."""
    body = finding.exchanges[0].response_body if finding.exchanges else None
    try:
        parsed = json.loads(body or "")
    except ValueError:
        return None, (body or "").strip()[:160] or None
    if not isinstance(parsed, dict):
        return None, None
    code = parsed.get("error") if isinstance(parsed.get("error"), str) else parsed.get("error_code")
    detail = parsed.get("detail") if isinstance(parsed.get("detail"), str) else parsed.get("message")
    return (str(code) if code else None), (str(detail)[:200] if detail else None)


def _contract_violations(broken: list[Finding]) -> list[Diagnosis]:
    if not broken:
        return []
    sent = [f for f in broken if f.hop in (*_TO_AUTH, Hop.PROXY_TO_MLFLOW)
            and f.kind in _REQUEST_BREAKS | {FindingKind.CREDENTIAL_LEAK}]
    return [Diagnosis(
        category=DiagnosisCategory.CONTRACT_MISMATCH, confidence=0.85 if sent else 0.7,
        summary=f"{len(broken)} contract violation(s), {len(sent)} of them in what the proxy sends",
        evidence=_evidence(sent or broken),
        recommendation="Fix the sending side named in each finding, or record a reviewed known deviation.",
    )]


def _code_bugs(run: _Run) -> list[Diagnosis]:
    server_errors = run.pick(lambda f: f.kind is FindingKind.SERVER_ERROR and f.hop is Hop.CLIENT_TO_PROXY)
    if not server_errors or run.pick(lambda f: f.kind in (FindingKind.UNREACHABLE, FindingKind.TIMEOUT)):
        return []
    return [Diagnosis(
        category=DiagnosisCategory.CODE_BUG, confidence=0.6,
        summary="the proxy answers 5xx while its upstreams answer",
        evidence=_evidence(server_errors),
        recommendation="Reproduce with the curl in the finding and fix the proxy's handling of that request.",
    )]
