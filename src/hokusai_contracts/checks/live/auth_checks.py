"""``auth-service``: the key straight to the auth service (the seeds' ``test_auth_service.py``).

For each service id the contract knows, the key in the body as the contract
wants it; then the key in a header instead (incident 1), which must not pass.
What it learns (which services the key is valid for) is the evidence that
tells a bad key (``api_key``) from a proxy asking about the wrong service
(``service_config``).
"""

from __future__ import annotations

from typing import Any

from hokusai_contracts.checks.live.probing import LiveProbes, answer_of
from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.contracts.known_values import known_values_from_contract
from hokusai_contracts.domain.findings import Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["PROXY_SERVICE_ID", "SUITE", "run_auth_checks"]

SUITE = Suite.AUTH_SERVICE
VALIDATE = "/api/v1/keys/validate"
OPERATION = f"POST {VALIDATE}"
PROXY_SERVICE_ID = "platform"


def _is_valid(result: ProbeResult) -> bool:
    if result.status != 200 or result.response is None:
        return False
    try:
        body: Any = result.response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("is_valid") is True


def run_auth_checks(probes: LiveProbes) -> None:
    url = probes.auth_url + VALIDATE
    known = known_values_from_contract(probes.auth_contract).get("service_id")
    service_ids = list(known.values) if known else [PROXY_SERVICE_ID]
    if PROXY_SERVICE_ID in service_ids:  # the proxy's own service first: it is the one that matters
        service_ids.remove(PROXY_SERVICE_ID)
    service_ids.insert(0, PROXY_SERVICE_ID)
    valid_for: list[str] = []
    answered = False
    platform: ProbeResult | None = None
    for service_id in service_ids:
        result = probes.ask("POST", url, json={"api_key": probes.api_key, "service_id": service_id})
        findings = probes.judged(result, probes.auth_contract, Hop.CLIENT_TO_AUTH, "POST", VALIDATE, SUITE)
        answered = answered or result.status is not None and result.status < 500
        if _is_valid(result):
            valid_for.append(service_id)
        if service_id == PROXY_SERVICE_ID:
            platform = result
        probes.check(SUITE, f"validate key in body for {service_id}", result, operation=OPERATION,
                     ok=result.status is not None and result.status < 500,
                     message=f"{answer_of(result)} ({'valid' if _is_valid(result) else 'not valid'} for {service_id})",
                     findings=findings)
    probes.facts.valid_for = valid_for if answered else None

    for name, headers in (("Authorization: Bearer", {"Authorization": f"Bearer {probes.api_key}"}),
                          ("X-API-Key", {"X-API-Key": probes.api_key})):
        result = probes.ask("POST", url, json={"service_id": PROXY_SERVICE_ID}, headers=headers)
        findings = probes.judged(result, probes.auth_contract, Hop.CLIENT_TO_AUTH, "POST", VALIDATE, SUITE)
        accepted = _is_valid(result)
        probes.check(SUITE, f"key in {name} header instead of the body", result, operation=OPERATION,
                     ok=result.status is not None and result.status < 500 and not accepted,
                     message=f"{answer_of(result)}: " + ("accepted, although the contract wants the key in the body"
                                                         if accepted else "refused, as the contract says"),
                     findings=findings)

    if platform is not None and answered and PROXY_SERVICE_ID not in valid_for:
        refused = _key_refused(platform, valid_for)
        refused.contract = probes.ref(probes.auth_contract, "POST", VALIDATE, "/requestBody")
        probes.add_finding(refused)


def _key_refused(result: ProbeResult, valid_for: list[str]) -> Finding:
    others = [s for s in valid_for if s != PROXY_SERVICE_ID]
    if others:
        observed = (f"{answer_of(result)}; the same key is valid for {', '.join(others)}: it belongs to another "
                    "service")
        advice = (f"This key was issued for {', '.join(others)}. Create a key for service '{PROXY_SERVICE_ID}' "
                  "(the one the MLflow proxy validates for) and use that.")
    else:
        observed = f"{answer_of(result)}; valid for none of the services the contract knows"
        advice = ("The auth service does not accept this key for any service: it is unknown, expired or revoked. "
                  "Check it in the Hokusai dashboard and issue a new one.")
    return Finding(hop=Hop.CLIENT_TO_AUTH, operation=OPERATION, kind=FindingKind.AUTH_REJECTED, location="body.api_key",
                   expected=f"200 with is_valid: true for service_id {PROXY_SERVICE_ID!r}", observed=observed,
                   recommendation=advice, suite=SUITE, exchanges=[result.exchange()],
                   evidence=Evidence.KEY_REFUSED_BY_AUTH)
