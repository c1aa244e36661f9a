"""``bearer-auth``: how the proxy takes a key (the seeds' ``test_bearer_auth.py``).

One read (``GET .../experiments/search``) sent with the key as the MLflow
client sends it, and with every wrong way of sending one. Each answer must be
a status the proxy's contract documents; only the Bearer key may get in. A
proxy refusing a key the auth service accepts for ``platform`` is the
evidence of ``service_config`` / ``contract_mismatch``.

"Does the proxy take a key in the query?" is asked with a decoy of the key's
format, never the key: a URL lands in every access log on the way (load
balancer, CDN, proxy), and the gate refuses a URL holding the key anyway. A
proxy letting the decoy in checks no key at all.
"""

from __future__ import annotations

import secrets
import string

from hokusai_contracts.checks.live.auth_checks import PROXY_SERVICE_ID
from hokusai_contracts.checks.live.probing import LiveProbes, answer_of
from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.domain.findings import Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["SUITE", "run_bearer_checks"]

SUITE = Suite.BEARER_AUTH
READ = "/api/2.0/mlflow/experiments/search"
OPERATION = f"GET {READ}"
PARAMS = {"max_results": "1"}


def _made_up_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "hk_live_" + "".join(secrets.choice(alphabet) for _ in range(32))


def run_bearer_checks(probes: LiveProbes) -> None:
    _check_the_bearer_key(probes)
    _check_the_wrong_ways(probes)


def _check_the_bearer_key(probes: LiveProbes) -> None:
    """The key as the MLflow client sends it: it must get in, and what the proxy did is a fact for later checks."""
    result = probes.ask("GET", probes.proxy_url + READ, params=PARAMS,
                        headers={"Authorization": f"Bearer {probes.api_key}"})
    accepted = result.status == 200
    probes.facts.key_accepted = accepted if result.status is not None and result.status < 500 else None
    findings = _judged(probes, result)
    valid_for = probes.facts.valid_for
    if result.status in (401, 403) and valid_for is not None and PROXY_SERVICE_ID in valid_for:
        findings.append(Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=OPERATION, kind=FindingKind.AUTH_REJECTED,
            location="header.Authorization", suite=SUITE, exchanges=[result.exchange()],
            contract=probes.proxy_contract.ref("/components/securitySchemes/bearerAuth"),
            evidence=Evidence.PROXY_REFUSES_VALID_KEY,
            expected=f"200: the auth service accepts this key for {PROXY_SERVICE_ID!r} when asked directly",
            observed=f"{answer_of(result)}",
            recommendation="The proxy asks the auth service something else than the contract says: check the "
                           f"service id it validates for (must be {PROXY_SERVICE_ID!r}) and that it sends the key "
                           "in the validate body.",
        ))
    probes.check(SUITE, "Bearer key accepted", result, operation=OPERATION, ok=accepted,
                 message=answer_of(result), findings=findings)


def _check_the_wrong_ways(probes: LiveProbes) -> None:
    """Every wrong way of sending a key: none may get in, and no answer may be a 5xx."""
    wrong_ways: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("missing key", {}, {}),
        ("malformed key", {"Authorization": "Bearer not-a-hokusai-key"}, {}),
        ("unknown key", {"Authorization": f"Bearer {_made_up_key()}"}, {}),
        ("key in X-API-Key", {"X-API-Key": probes.api_key}, {}),
        ("key in a query parameter", {}, {"api_key": _made_up_key()}),
    ]
    for name, headers, extra in wrong_ways:
        result = probes.ask("GET", probes.proxy_url + READ, params={**PARAMS, **extra}, headers=headers)
        findings = _judged(probes, result)
        let_in = result.status is not None and 200 <= result.status < 300
        ok = result.status is not None and result.status < 500
        if let_in and name in ("missing key", "malformed key", "unknown key"):
            ok = False
            findings.append(Finding(
                hop=Hop.CLIENT_TO_PROXY, operation=OPERATION, kind=FindingKind.IGNORED_AUTH,
                location="header.Authorization", expected="401: the contract requires a valid Bearer key",
                contract=probes.ref(probes.proxy_contract, "GET", READ, "/responses/401"),
                observed=answer_of(result), suite=SUITE,
                recommendation="The proxy must validate every request's key with the auth service and refuse "
                               "on failure.",
                exchanges=[result.exchange()]))
        if let_in and name == "key in a query parameter":
            ok = False
            findings.append(Finding(
                hop=Hop.CLIENT_TO_PROXY, operation=OPERATION, kind=FindingKind.IGNORED_AUTH,
                location="query.api_key",
                expected="401: the contract takes the key from Authorization: Bearer only, and this one is made up",
                contract=probes.proxy_contract.ref("/components/securitySchemes/bearerAuth"),
                observed=answer_of(result), suite=SUITE, exchanges=[result.exchange()],
                recommendation="The proxy let in a made-up key sent in the query string: it must validate every "
                               "request's key, and take keys from Authorization: Bearer only (URLs end up in "
                               "access logs and browser history)."))
        verdict = ("decoy " if name == "key in a query parameter" else "") + ("let in" if let_in else "refused")
        probes.check(SUITE, name, result, operation=OPERATION, ok=ok, message=f"{answer_of(result)} ({verdict})",
                     findings=findings)


def _judged(probes: LiveProbes, result: ProbeResult) -> list[Finding]:
    return probes.judged(result, probes.proxy_contract, Hop.CLIENT_TO_PROXY, "GET", READ, SUITE)
