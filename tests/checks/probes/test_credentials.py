"""The credential probes' client-side logic, the proxy mocked at httpx's transport (respx).

What each refusal and each way of sending the key is judged as; the real proxies' answers are
tests/incidents (test_precision.py and the incidents).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.credentials import CALLS, refuses_valid_key, run_credential_probes
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.lines import journal_line
from hokusai_contracts.run.inputs import load_inputs
from hokusai_contracts.stack.health import StackEndpoints
from tests.checks.probes.reproducible import assert_reproducible

KEY = "hk_live_" + "Valid1" * 5 + "ab"
SEEDED = {name: {"name": name, "key": f"hk_live_{name[:4]}" + "x" * (32 - len(name[:4]))}
          for name in ("expired", "revoked", "website")}
PROXY = "http://proxy.test/api/mlflow"
ENDPOINTS = StackEndpoints(mlflow_url="http://mlflow.test", auth_url="http://auth.test", proxy_root="http://proxy.test",
                           proxy_url=PROXY, api_key=KEY, admin_token="fake-admin-token", keys=SEEDED,
                           service_id="platform")
BODIES = {"/api/2.0/mlflow/experiments/search": {"experiments": []},
          "/api/2.0/mlflow/experiments/create": {"experiment_id": "1"},
          "/api/2.0/mlflow-artifacts/artifacts": {"files": []}}
Proxy = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_inputs().proxy


def refuse(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, json={"error_code": "UNAUTHENTICATED", "message": "Invalid or missing API key."},
                          headers={"WWW-Authenticate": 'Bearer realm="hokusai"'})


def let_in(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=BODIES[request.url.path.removeprefix("/api/mlflow")])


def correct(request: httpx.Request) -> httpx.Response:
    """Bearer with the valid key only; every other way of sending a key refused as the contract says."""
    return let_in(request) if request.headers.get("Authorization") == f"Bearer {KEY}" else refuse(request)


def takes_query_keys(request: httpx.Request) -> httpx.Response:
    return let_in(request) if request.url.params.get("api_key") == KEY else correct(request)


def refuses_everything(request: httpx.Request) -> httpx.Response:
    return refuse(request)


def bad_request_without_key(request: httpx.Request) -> httpx.Response:
    if "Authorization" not in request.headers and "X-API-Key" not in request.headers:
        return httpx.Response(400, json={"error_code": "BAD_REQUEST", "message": "no key"})
    return correct(request)


@pytest.fixture
def proxy() -> Iterator[Callable[[Proxy], None]]:
    with respx.mock(assert_all_called=False) as router:
        # The probes ask the auth service for the valid key's scopes, which a refusal's diagnosis names.
        router.post("http://auth.test/api/v1/keys/validate").mock(
            return_value=httpx.Response(200, json={"is_valid": True, "scopes": ["read", "write"]}))
        yield lambda answer: router.route(host="proxy.test").mock(side_effect=answer) and None


def _findings(contract: Contract) -> tuple[list[Finding], bool]:
    result = run_credential_probes(ENDPOINTS, contract)
    # Six refusals on three calls, three ways of sending the key, the valid key with extras twice.
    assert len(result.checks) == 6 * len(CALLS) + 3 + 2
    return [f for check in result.checks for f in check.findings], refuses_valid_key(result)


def test_a_correct_proxy_has_no_finding(proxy: Callable[[Proxy], None], contract: Contract) -> None:
    proxy(correct)
    assert _findings(contract) == ([], False)


def test_a_key_taken_from_the_query_is_ignored_auth_at_the_parameter(proxy: Callable[[Proxy], None],
                                                                     contract: Contract) -> None:
    proxy(takes_query_keys)
    findings, refused = _findings(contract)
    (finding,) = findings
    assert (finding.kind, finding.location) == (FindingKind.IGNORED_AUTH, "query.api_key") and not refused
    assert finding.contract is not None and finding.contract.pointer == "/components/securitySchemes/bearerAuth"
    assert finding.exchanges and finding.reproduction is None


def test_a_proxy_refusing_the_valid_key_is_told_with_its_evidence(proxy: Callable[[Proxy], None],
                                                                  contract: Contract) -> None:
    proxy(refuses_everything)
    findings, refused = _findings(contract)
    assert refused
    assert {(f.kind, f.evidence, f.operation) for f in findings} == {
        (FindingKind.AUTH_REJECTED, Evidence.PROXY_REFUSES_VALID_KEY, call.operation) for call in (CALLS[0], CALLS[2])}


def test_a_400_without_a_key_is_an_undocumented_status_naming_401(proxy: Callable[[Proxy], None],
                                                                  contract: Contract) -> None:
    proxy(bad_request_without_key)
    findings, _ = _findings(contract)
    assert {(f.kind, f.location, f.operation) for f in findings} == {
        (FindingKind.UNDOCUMENTED_STATUS, "status", call.operation) for call in CALLS}
    for finding in findings:
        assert finding.observed.startswith("400") and finding.expected.startswith("401:")


def test_every_credential_finding_is_reproducible(proxy: Callable[[Proxy], None], contract: Contract) -> None:
    """Issue 23: the pointer, the exchange and a curl, on the proxy's own refusals judged by the contract too."""
    def text_401(request: httpx.Request) -> httpx.Response:
        answer = takes_query_keys(request)
        return httpx.Response(401, text="no") if answer.status_code == 401 else answer

    proxy(text_401)
    findings, _ = _findings(contract)
    assert {f.kind for f in findings} >= {FindingKind.IGNORED_AUTH, FindingKind.CONTENT_TYPE}
    for finding in findings:
        assert PROXY in assert_reproducible(finding)


PLAIN_KEY = "hk_live_plain" + "p" * 27
WITH_PLAIN = StackEndpoints(**{**ENDPOINTS.__dict__, "keys": {**SEEDED, "plain": {"name": "plain", "key": PLAIN_KEY}}})
ADMIN_REQUIRED = (403, "REGISTRY_ADMIN_REQUIRED")


def _plain_key_check(answer: Proxy, contract: Contract, proxy: Callable[[Proxy], None]) -> list[Finding]:
    proxy(lambda request: answer(request) if request.headers.get("Authorization") == f"Bearer {PLAIN_KEY}"
          else correct(request))
    result = run_credential_probes(WITH_PLAIN, contract, plain_key_refusal=ADMIN_REQUIRED)
    [check] = [c for c in result.checks if c.name == "plain platform key (read)"]
    assert not result.warnings
    return check.findings


def test_a_plain_key_refused_in_the_contracts_shape_passes(proxy: Callable[[Proxy], None], contract: Contract) -> None:
    def refusal(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error_code": "PERMISSION_DENIED", "message": "admins only",
                                         "error": "REGISTRY_ADMIN_REQUIRED"})
    assert _plain_key_check(refusal, contract, proxy) == []


def test_a_plain_key_refused_in_productions_shape_is_judged_by_the_contract(proxy: Callable[[Proxy], None],
                                                                           contract: Contract) -> None:
    """Production's {detail, error} is the documented refusal but not the proxy contract's 403 body."""
    def refusal(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"detail": "Admin access required for the model registry",
                                         "error": "REGISTRY_ADMIN_REQUIRED"})
    findings = _plain_key_check(refusal, contract, proxy)
    [finding] = findings  # one cause: the body's shape, not one finding per missing field
    assert (finding.kind, finding.location) == (FindingKind.RESPONSE_SCHEMA, "body")
    assert finding.observed.startswith("403 ") and "REGISTRY_ADMIN_REQUIRED" in finding.observed
    assert finding.contract and finding.contract.file == "contracts/mlflow-proxy.yaml"
    assert "error_code" in finding.expected and "message" in finding.expected


def test_a_plain_key_let_in_or_refused_otherwise_is_found(proxy: Callable[[Proxy], None], contract: Contract) -> None:
    assert {f.kind for f in _plain_key_check(let_in, contract, proxy)} == {FindingKind.IGNORED_AUTH}
    assert {(f.kind, f.location) for f in _plain_key_check(refuse, contract, proxy)} == {
        (FindingKind.CHECK_FAILED, "status")}


PRODUCTION_REFUSAL = {"detail": "Admin access required for the model registry", "error": "REGISTRY_ADMIN_REQUIRED"}


@pytest.mark.parametrize(("forwarded", "upstream", "said"), [
    (False, None, "the proxy refused it itself (nothing was forwarded to MLflow)"),
    (True, 403, "the MLflow side (its gateway) refused it with 403; the proxy relayed that answer"),
    (True, 200, "the proxy refused it after forwarding it (the MLflow side answered 200)"),
], ids=["by-the-proxy", "by-the-gateway", "by-the-proxy-after-mlflow-answered"])
def test_the_plain_keys_refusal_says_who_refused_it(proxy: Callable[[Proxy], None], contract: Contract,
                                                     tmp_path: Path, forwarded: bool, upstream: int | None,
                                                     said: str) -> None:
    """What the proxy->MLflow journal holds for the refused read: forwarded or not, and MLflow's answer."""
    journal = tmp_path / "mlflow-journal.jsonl"
    # What the proxy forwarded before (the scenario): a read the journal holds already, not this one.
    earlier = HttpExchange(method="GET", path="/mlflow/api/2.0/mlflow/experiments/search", status=403,
                           hop=Hop.PROXY_TO_MLFLOW, started_at=0.0)
    journal.write_text(journal_line(earlier) + "\n")

    def refusal(request: httpx.Request) -> httpx.Response:
        if forwarded:  # as the journal in front of MLflow records it, before the proxy relays the answer
            with journal.open("a") as sink:
                sink.write(journal_line(dataclasses.replace(earlier, status=upstream)) + "\n")
        return httpx.Response(403, json=PRODUCTION_REFUSAL)

    proxy(lambda request: refusal(request) if request.headers.get("Authorization") == f"Bearer {PLAIN_KEY}"
          else correct(request))
    endpoints = dataclasses.replace(WITH_PLAIN, mlflow_journal=journal)
    result = run_credential_probes(endpoints, contract, plain_key_refusal=ADMIN_REQUIRED)
    [check] = [c for c in result.checks if c.name == "plain platform key (read)"]
    assert check.message == f"proxy answered 403 (refused): {said}"
