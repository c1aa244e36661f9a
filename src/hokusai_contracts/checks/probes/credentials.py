"""The proxy's own refusals and every way a key comes in, in every local run, deterministically.

The live mode's ``bearer-auth`` checks, with what only a local stack can make: an expired, a
revoked and another service's key (seeded by the fake auth service), each on a read, a write and
an artifact call. Each answer is judged against the proxy contract (status, content type, body
schema, ``WWW-Authenticate``): a proxy answering 401 as text/plain is caught in every run, not only
when a fuzzer happens to send no key.

The key is also sent the ways real clients and attackers send it: in ``X-API-Key``, in ``?api_key=``,
in both, and along with a valid ``Authorization: Bearer``. The contract takes it from
``Authorization: Bearer`` only. Locally the seeded key may go in the query (the logs are ours); the
hop journal in front of MLflow then shows whether any of it reached MLflow (``credential_leak``).
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass

from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.stack.health import StackEndpoints

__all__ = ["CALLS", "key_scopes", "refuses_valid_key", "run_credential_probes"]

SUITE = Suite.BEARER_AUTH
SCHEME = "/components/securitySchemes/bearerAuth"


@dataclass(frozen=True)
class Call:
    label: str
    method: str
    path: str  # as the proxy contract writes it, below the mount

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"


CALLS = (
    Call("read", "GET", "/api/2.0/mlflow/experiments/search"),
    Call("write", "POST", "/api/2.0/mlflow/experiments/create"),
    Call("artifact", "GET", "/api/2.0/mlflow-artifacts/artifacts"),
)


def _made_up_key() -> str:
    return "hk_live_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


class _Probes:
    def __init__(self, endpoints: StackEndpoints, contract: Contract) -> None:
        self.endpoints, self.contract = endpoints, contract
        self.checks: list[Check] = []
        self.serial = 0

    def send(self, call: Call, headers: dict[str, str], query: dict[str, str] | None = None) -> ProbeResult:
        self.serial += 1
        params: dict[str, str] = {"max_results": "1"} if call.label == "read" else \
            {"path": "contract-probe"} if call.label == "artifact" else {}
        body = {"name": f"contract-probe-credentials-{time.time_ns()}-{self.serial}"} if call.method == "POST" \
            else None
        return probe(call.method, self.endpoints.proxy_url + call.path, params={**params, **(query or {})},
                     headers=headers, json=body, timeout=30)

    def judged(self, call: Call, result: ProbeResult) -> list[Finding]:
        if result.response is None:
            return []
        found = judge_response(self.contract, Hop.CLIENT_TO_PROXY, call.method, call.path,
                               status=result.response.status_code, headers=dict(result.response.headers),
                               body=result.response.content)
        for finding in found:
            finding.suite = SUITE
            finding.exchanges = finding.exchanges or [result.exchange()]
        return found

    def record(self, call: Call, name: str, result: ProbeResult, findings: list[Finding], verdict: str,
               said: str = "") -> None:
        answer = result.status if result.status is not None else result.error
        self.checks.append(Check(suite=SUITE, name=f"{name} ({call.label})", operation=call.operation, cases=1,
                                 seconds=round(result.seconds, 3), status=CheckStatus.PASSED, findings=findings,
                                 message=f"proxy answered {answer} ({verdict})" + (f": {said}" if said else "")))

    def finding(self, call: Call, result: ProbeResult, kind: FindingKind, location: str, expected: str,
                advice: str, evidence: Evidence | None = None) -> Finding:
        return Finding(hop=Hop.CLIENT_TO_PROXY, operation=call.operation, kind=kind, location=location,
                       suite=SUITE, expected=expected, observed=f"{result.status} {result.text()}",
                       contract=self.contract.ref(SCHEME), exchanges=[result.exchange()], evidence=evidence,
                       recommendation=advice)


def _refusals(endpoints: StackEndpoints) -> list[tuple[str, dict[str, str], frozenset[int]]]:
    """(name, headers, the statuses the contract allows): each a request the proxy must refuse."""
    def seeded(name: str) -> str | None:
        return str(endpoints.keys.get(name, {}).get("key") or "") or None

    unauthenticated = frozenset({401})
    wrong: list[tuple[str, dict[str, str], frozenset[int]]] = [
        ("missing key", {}, unauthenticated),
        ("malformed key", {"Authorization": "Bearer not-a-hokusai-key"}, unauthenticated),
        ("unknown key", {"Authorization": f"Bearer {_made_up_key()}"}, unauthenticated),
    ]
    for name, allowed in (("expired", unauthenticated), ("revoked", unauthenticated),
                          # a valid key of another service: not authenticated for this one, or forbidden
                          ("website", frozenset({401, 403}))):
        key = seeded(name)
        if key:
            wrong.append((f"{name} key", {"Authorization": f"Bearer {key}"}, allowed))
    return wrong


def run_credential_probes(endpoints: StackEndpoints, contract: Contract,
                          plain_key_refusal: tuple[int, str] | None = None) -> PhaseResult:
    """Every refusal on a read, a write and an artifact call, then the key sent every other way.

    ``plain_key_refusal`` (a deployment profile's): the status and body ``error`` the seed's plain platform
    key must get (production: 403 REGISTRY_ADMIN_REQUIRED, registry admins only).
    """
    began = time.perf_counter()
    probes = _Probes(endpoints, contract)
    _refusals_on_every_call(probes)
    _key_carriers(probes)
    _valid_key_with_extras(probes)
    if plain_key_refusal is not None and endpoints.keys.get(PLAIN, {}).get("key"):
        _plain_key(probes, plain_key_refusal)
    return PhaseResult(checks=probes.checks,
                       timings={PhaseName.CREDENTIALS: round(time.perf_counter() - began, 3)})


def _refusals_on_every_call(probes: _Probes) -> None:
    """Each key the proxy must refuse, on a read, a write and an artifact call."""
    for call in CALLS:
        for name, headers, allowed in _refusals(probes.endpoints):
            result = probes.send(call, headers)
            findings = probes.judged(call, result)
            let_in = result.status is not None and 200 <= result.status < 300
            if let_in:
                findings.append(probes.finding(
                    call, result, FindingKind.IGNORED_AUTH, "header.Authorization",
                    f"{sorted(allowed)}: the contract requires a valid Bearer key ({name} sent)",
                    "The proxy must validate every request's key with the auth service and refuse on failure."))
            # A 5xx is an outage on the way (judged as such above), not the proxy's answer to a bad key.
            elif result.status is not None and result.status < 500 and result.status not in allowed:
                # Ours names the status the contract wants here; the judge's only that it is undocumented.
                findings = [f for f in findings if f.location != "status"]
                findings.append(probes.finding(
                    call, result, FindingKind.UNDOCUMENTED_STATUS, "status",
                    f"{' or '.join(map(str, sorted(allowed)))}: the contract's answer to a request with "
                    f"a {name} (bearerAuth)",
                    f"Answer {min(allowed)} with WWW-Authenticate: Bearer and the proxy's error body to a "
                    f"request with a {name}."))
            probes.record(call, name, result, findings, "let in" if let_in else "refused")


def _key_carriers(probes: _Probes) -> None:
    """The valid key sent as real clients and attackers send it, anywhere but Authorization: Bearer."""
    key, read = probes.endpoints.api_key, CALLS[0]
    # Only Authorization: Bearer is declared (bearerAuth). A key the proxy also takes from another
    # header is noted, not a finding: the contract requires Bearer to work, and a header stays out
    # of logs. A key taken from the URL is a finding: URLs land in every access log on the way.
    carriers = [
        ("key in X-API-Key", {"X-API-Key": key}, {}),
        ("key in a query parameter", {}, {"api_key": key}),
        ("key in X-API-Key and the query", {"X-API-Key": key}, {"api_key": key}),
    ]
    for name, headers, query in carriers:
        result = probes.send(read, headers, query)
        findings = probes.judged(read, result)
        let_in = result.status is not None and 200 <= result.status < 300
        if let_in and not headers:
            findings.append(probes.finding(
                read, result, FindingKind.IGNORED_AUTH, "query.api_key",
                "401: the contract takes the key from Authorization: Bearer only, never from the URL",
                "Refuse a key in the query string and take it from Authorization: Bearer (a key in a URL "
                "ends up in access logs and browser history)."))
        probes.record(read, name, result, findings, "let in" if let_in else "refused")


def _valid_key_with_extras(probes: _Probes) -> None:
    """A real client with extras: the valid Bearer key, plus the same key in X-API-Key and the query.

    It must get in; whatever of it the proxy passes on shows in the proxy->MLflow journal. A refusal
    carries the key's scopes (asked of the auth service): the diagnosis names them.
    """
    key = probes.endpoints.api_key
    scopes = key_scopes(probes.endpoints, key)
    for call in (CALLS[0], CALLS[2]):
        result = probes.send(call, {"Authorization": f"Bearer {key}", "X-API-Key": key}, {"api_key": key})
        findings = probes.judged(call, result)
        if result.status in (401, 403):
            findings.append(probes.finding(
                call, result, FindingKind.AUTH_REJECTED, "header.Authorization",
                f"200: the key is the seeded, valid platform key (scopes {', '.join(scopes or []) or 'none'})",
                "The proxy refuses a valid platform key: check the service id it validates for, the scopes "
                "it requires, and that extra credential headers or parameters do not change its answer.",
                evidence=Evidence.PROXY_REFUSES_VALID_KEY))
            findings[-1].key_scopes = scopes
        probes.record(call, "valid Bearer key with the key also in X-API-Key and the query", result, findings,
                      "let in" if result.status == 200 else "refused")


#: The seed's platform key without the deployment's extra rights (production-keys.yaml).
PLAIN = "plain"


def _plain_key(probes: _Probes, refusal: tuple[int, str]) -> None:
    """The plain platform key on a read: the deployment's documented refusal, judged by the proxy contract.

    The answer's status and body ``error`` must be the deployment's refusal; its body, like every probe's,
    must fit the contract's 403 ({error_code, message}). Production's is FastAPI's {detail, error}: that
    is a ``response_schema`` finding, acknowledged (or not) in contracts/known-deviations.yaml.
    """
    status, code = refusal
    read = CALLS[0]
    journal = probes.endpoints.mlflow_journal
    before = len(read_journal(journal)) if journal is not None else 0
    result = probes.send(read, {"Authorization": f"Bearer {probes.endpoints.keys[PLAIN]['key']}"})
    findings = _one_body_finding(probes, read, result, probes.judged(read, result))
    try:
        said = result.response.json().get("error") if result.response is not None else None
    except (ValueError, AttributeError):
        said = None
    if result.status is not None and 200 <= result.status < 300:
        findings.append(probes.finding(
            read, result, FindingKind.IGNORED_AUTH, "header.Authorization",
            f"{status} {code}: the key is a plain platform key, which the deployment refuses",
            "The proxy (or the gateway behind it) must refuse a key without the rights its policy requires."))
    elif result.status is not None and result.status < 500 and (result.status, said) != (status, code):
        findings = [f for f in findings if f.location != "status"]
        findings.append(probes.finding(
            read, result, FindingKind.CHECK_FAILED, "status",
            f"{status} with error {code}: the deployment's documented refusal of a plain platform key",
            f"Answer a key without the required rights with {status} and error {code}."))
    refused = result.status == status
    probes.record(read, "plain platform key", result, findings, "refused" if refused else "let in"
                  if result.status is not None and result.status < 300 else "answered",
                  _refused_by(probes.endpoints, before, read, result) if refused else "")


def _refused_by(endpoints: StackEndpoints, before: int, call: Call, result: ProbeResult) -> str:
    """Who refused: the proxy itself, or the MLflow side (a gateway) with the proxy relaying its answer.

    The proxy->MLflow journal tells: it holds the request if the proxy forwarded it, with MLflow's
    answer, written before the proxy had the whole answer to relay (``journal.recording``). Nothing else
    talks to the proxy while the probes run, so what the journal got since ``before`` is this request's.
    """
    if endpoints.mlflow_journal is None:
        return ""
    forwarded = [e for e in read_journal(endpoints.mlflow_journal)[before:]
                 if e.method == call.method and e.path.endswith(call.path)]
    if not forwarded:
        return "the proxy refused it itself (nothing was forwarded to MLflow)"
    upstream = forwarded[-1]
    if upstream.status == result.status:
        return f"the MLflow side (its gateway) refused it with {upstream.status}; the proxy relayed that answer"
    answered = upstream.status if upstream.status is not None else f"nothing: {upstream.error}"
    return f"the proxy refused it after forwarding it (the MLflow side answered {answered})"


def _one_body_finding(probes: _Probes, call: Call, result: ProbeResult, found: list[Finding]) -> list[Finding]:
    """The body's schema findings of one refusal as one: one cause, observed as the whole body it came in."""
    body = [f for f in found if f.kind is FindingKind.RESPONSE_SCHEMA]
    if len(body) < 2:
        return found
    merged = probes.finding(call, result, FindingKind.RESPONSE_SCHEMA, "body",
                            f"the contract's {result.status} body: " + "; ".join(
                                f"{f.location}: {f.expected}" for f in body),
                            "Answer the refusal with the proxy contract's error body {error_code, message} "
                            "(extra fields such as error may stay), or have the contract document this shape.")
    merged.contract = body[0].contract
    return [f for f in found if f not in body] + [merged]


def key_scopes(endpoints: StackEndpoints, key: str) -> list[str] | None:
    """The scopes the auth service gives ``key``, asked directly (None when it does not say)."""
    answer = probe("POST", endpoints.auth_url + "/api/v1/keys/validate", timeout=10,
                   json={"api_key": key, "service_id": endpoints.service_id})
    try:
        scopes = answer.response.json().get("scopes") if answer.response is not None else None
    except (ValueError, AttributeError):
        return None
    return [str(scope) for scope in scopes] if isinstance(scopes, list) else None


def refuses_valid_key(result: PhaseResult) -> bool:
    """Whether the probes saw the proxy refuse the seeded, valid key: later probes would only see that."""
    return any(f.evidence is Evidence.PROXY_REFUSES_VALID_KEY for c in result.checks for f in c.findings)
