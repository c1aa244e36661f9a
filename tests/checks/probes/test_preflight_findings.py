"""Preflight's findings, each part mocked at httpx's transport (httpx.MockTransport): pointer, exchange, curl.

A part down, silent or failing is a finding on the hop that failed, with the receiver's contract
cited and the exchange kept, so that the report gives a curl for it (issue 23).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hokusai_contracts.checks.probes.preflight import Preflight, run_preflight
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import mlflow_side, requires_credentials
from hokusai_contracts.domain.findings import Evidence, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import Inputs, load_inputs
from tests.checks.probes.reproducible import assert_reproducible

ROOT = Path(__file__).resolve().parents[3]
KEY = "hk_live_" + "Prefl1" * 5 + "ab"
PROXY, AUTH, MLFLOW = "http://proxy.test/api/mlflow", "http://auth.test", "http://mlflow.test"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs()


def healthy(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/keys/validate"):
        return httpx.Response(200, json={"is_valid": True, "key_id": "k", "user_id": "u", "service_id": "platform"})
    if request.url.path.endswith("/experiments/search"):
        return httpx.Response(200, json={"experiments": []})
    return httpx.Response(200, json={"status": "healthy"})


def _preflight(handler: Handler, inputs: Inputs) -> Preflight:
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return run_preflight(PROXY, AUTH, MLFLOW, KEY, timeout=5, client=client, contracts=inputs)


def test_a_healthy_stack_has_no_finding(inputs: Inputs) -> None:
    outcome = _preflight(healthy, inputs)
    assert outcome.healthy and len(outcome.checks) == 5


def test_an_auth_service_behind_a_dead_load_balancer_is_infrastructure_with_a_curl(inputs: Inputs) -> None:
    def auth_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(503, text="<html>503 Service Temporarily Unavailable</html>")
        return healthy(request)

    outcome = _preflight(auth_down, inputs)
    assert not outcome.healthy
    assert {(f.hop, f.kind) for f in outcome.findings} == {(Hop.CLIENT_TO_AUTH, FindingKind.SERVER_ERROR)}
    assert {c.evidence for c in outcome.checks if c.findings} == {Evidence.INFRASTRUCTURE_DOWN}
    for finding in outcome.findings:
        assert AUTH in assert_reproducible(finding, "contracts/auth-service.yaml")


@pytest.mark.parametrize(("error", "kind"), [
    (httpx.ConnectError("refused"), FindingKind.UNREACHABLE),
    (httpx.ReadTimeout("silent"), FindingKind.TIMEOUT),
])
def test_an_mlflow_that_does_not_answer_is_found_on_its_hop(inputs: Inputs, error: httpx.HTTPError,
                                                            kind: FindingKind) -> None:
    def mlflow_gone(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mlflow.test":
            raise error
        return healthy(request)

    outcome = _preflight(mlflow_gone, inputs)
    (finding,) = outcome.findings
    assert (finding.hop, finding.kind, finding.location) == (Hop.CLIENT_TO_MLFLOW, kind, "connection")
    # What the faults go by: the auth cases need auth and the proxy up, MLflow's need MLflow too.
    assert (outcome.up("auth"), outcome.up("proxy"), outcome.up("mlflow")) == (True, True, False)
    assert MLFLOW in assert_reproducible(finding, "contracts/mlflow.yaml")


def test_the_proxys_own_503_naming_auth_is_placed_on_proxy_to_auth(inputs: Inputs) -> None:
    def proxy_says_auth_is_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "proxy.test" and request.url.path.endswith("/experiments/search"):
            return httpx.Response(503, json={"error_code": "SERVICE_UNAVAILABLE",
                                             "message": "The auth service is unreachable."})
        return healthy(request)

    (finding,) = _preflight(proxy_says_auth_is_down, inputs).findings
    assert (finding.hop, finding.kind) == (Hop.PROXY_TO_AUTH, FindingKind.UNREACHABLE)
    # The proxy's answer, judged by the proxy contract's documented answers for the call it was given.
    curl = assert_reproducible(finding)
    assert "/experiments/search" in curl


READ = "GET /api/2.0/mlflow/experiments/search"


def _proxy_answers(read: httpx.Response | None = None, health: httpx.Response | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "proxy.test" and request.url.path.endswith("/experiments/search") and read is not None:
            return read
        if request.url.host == "proxy.test" and request.url.path.endswith("/health/mlflow") and health is not None:
            return health
        return healthy(request)
    return handler


@pytest.mark.parametrize(("answer", "kind", "location"), [
    (httpx.Response(404, json={"detail": "Not Found"}), FindingKind.PATH_NOT_FOUND, "path"),
    (httpx.Response(400, json={"error_code": "BAD_REQUEST", "message": "no"}), FindingKind.REJECTED_VALID_REQUEST,
     "status"),
    (httpx.Response(302, headers={"location": "/login"}), FindingKind.REJECTED_VALID_REQUEST, "status"),
], ids=["404", "400", "302"])
def test_a_proxied_read_with_the_valid_key_that_fails_is_a_finding_not_an_outage(
        inputs: Inputs, answer: httpx.Response, kind: FindingKind, location: str) -> None:
    outcome = _preflight(_proxy_answers(read=answer), inputs)
    (finding,) = outcome.findings
    assert (finding.hop, finding.operation, finding.kind, finding.location) == (
        Hop.CLIENT_TO_PROXY, READ, kind, location)
    assert finding.observed.startswith(str(answer.status_code))
    assert finding.contract is not None and finding.contract.pointer == \
        "/paths/~1api~12.0~1mlflow~1experiments~1search/get/responses"
    curl = assert_reproducible(finding)
    assert "authorization: Bearer" in curl and "/experiments/search?max_results=1" in curl
    (check,) = [c for c in outcome.checks if c.findings]
    assert check.name == "proxied read" and check.evidence is None
    # The proxy is up, and broken: the suites still run and tell the rest.
    assert outcome.healthy and outcome.parts_down == [] and outcome.up("proxy")


@pytest.mark.parametrize("status", [401, 403, 429])
def test_a_refusal_of_the_valid_key_is_left_to_the_credential_checks(inputs: Inputs, status: int) -> None:
    refused = httpx.Response(status, json={"error_code": "UNAUTHENTICATED", "message": "Invalid or expired API key"})
    outcome = _preflight(_proxy_answers(read=refused), inputs)
    assert outcome.findings == [] and outcome.healthy


def test_a_health_answer_the_proxy_contract_does_not_document_is_an_undocumented_status(inputs: Inputs) -> None:
    # Production's proxy: health behind its key check, although the contract says security: [].
    outcome = _preflight(_proxy_answers(health=httpx.Response(401, json={"detail": "API key required"})), inputs)
    (finding,) = outcome.findings
    assert (finding.hop, finding.operation, finding.kind, finding.location) == (
        Hop.CLIENT_TO_PROXY, "GET /health/mlflow", FindingKind.UNDOCUMENTED_STATUS, "status")
    assert finding.contract is not None and finding.contract.pointer == "/paths/~1health~1mlflow/get/responses"
    assert "401" in finding.observed and outcome.healthy
    assert_reproducible(finding)


@pytest.fixture(scope="module")
def gateway_inputs(inputs: Inputs) -> Inputs:
    """The run's contracts with production's MLflow side: /mlflow, behind the admin gateway (its overlay)."""
    mlflow = mlflow_side(Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT), "/mlflow",
                         ROOT / "contracts" / "mlflow-gateway.overlay.yaml", ROOT)
    assert requires_credentials(mlflow)
    return dataclasses.replace(inputs, mlflow=mlflow)


def test_a_gateways_mlflow_is_read_directly_with_the_key_even_when_the_proxy_refuses_everything(
        gateway_inputs: Inputs) -> None:
    seen: list[httpx.Request] = []

    def proxy_refuses_all(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "proxy.test":
            return httpx.Response(401, json={"detail": "API key required"})
        if request.url.host == "mlflow.test" and request.url.path.endswith("/experiments/search"):
            return httpx.Response(401, json={"detail": "Authentication service error"})  # its validate call broke
        return healthy(request)

    with httpx.Client(transport=httpx.MockTransport(proxy_refuses_all)) as client:
        outcome = run_preflight(PROXY, AUTH, MLFLOW + "/mlflow", KEY, timeout=5, client=client,
                                contracts=gateway_inputs)
    (read,) = [r for r in seen if r.url.host == "mlflow.test" and r.url.path.endswith("/experiments/search")]
    assert read.url.path == "/mlflow/api/2.0/mlflow/experiments/search" and read.url.params["max_results"] == "1"
    assert read.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(read.url)
    assert [c.name for c in outcome.checks] == ["auth health", "auth validate", "mlflow health", "mlflow read",
                                                "proxy health", "proxied read"]
    # The refusals are judged where their cause shows (the credential checks, the mlflow->auth journal);
    # the health 401 is the proxy's own.
    assert [(f.operation, f.kind) for f in outcome.findings] == [("GET /health/mlflow",
                                                                  FindingKind.UNDOCUMENTED_STATUS)]


def test_a_bare_mlflow_is_never_sent_the_key(inputs: Inputs) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return healthy(request)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        outcome = run_preflight(PROXY, AUTH, MLFLOW, KEY, timeout=5, client=client, contracts=inputs)
    assert "mlflow read" not in [c.name for c in outcome.checks]
    assert all("authorization" not in r.headers for r in seen if r.url.host == "mlflow.test")


def test_the_health_401_is_one_finding_when_the_proxy_suite_sees_it_too(inputs: Inputs) -> None:
    """Preflight's health 401 and the proxy suite's (the scenario's own call is not judged) are one finding."""
    outcome = _preflight(_proxy_answers(health=httpx.Response(401, json={"detail": "API key required"})), inputs)
    suite = judge_response(inputs.proxy, Hop.CLIENT_TO_PROXY, "GET", "/health/mlflow", status=401,
                           headers={"content-type": "application/json"},
                           body=b'{"detail":"Invalid or expired API key"}')
    fold = Fold(Report(tool_version="t", mode="local"), KnownDeviations())
    fold.add(outcome.result())
    fold.add(PhaseResult(checks=[Check(suite=Suite.PROXY, name="test_proxy[GET /health/mlflow]",
                                       status=CheckStatus.PASSED, findings=suite)]))
    health = [f for f in fold.report.findings if f.operation == "GET /health/mlflow"]
    assert [(f.kind, f.location, f.count) for f in health] == [(FindingKind.UNDOCUMENTED_STATUS, "status", 2)]
    assert {c.name: c.status for c in fold.report.checks}["proxy health"] is CheckStatus.FAILED


def test_a_gateways_mlflow_not_serving_the_read_where_the_run_was_told_is_found_on_its_hop(
        gateway_inputs: Inputs) -> None:
    # Production's entrypoint with MLflow's API at its root while the run was told /mlflow (run B).
    def no_api_under_the_prefix(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mlflow.test" and request.url.path.endswith("/experiments/search"):
            return httpx.Response(404, text="<!doctype html><title>404 Not Found</title>")
        return healthy(request)

    with httpx.Client(transport=httpx.MockTransport(no_api_under_the_prefix)) as client:
        outcome = run_preflight(PROXY, AUTH, MLFLOW + "/mlflow", KEY, timeout=5, client=client,
                                contracts=gateway_inputs)
    (finding,) = outcome.findings
    assert (finding.hop, finding.operation, finding.kind) == (Hop.CLIENT_TO_MLFLOW, READ, FindingKind.PATH_NOT_FOUND)
    assert "MLFLOW_PREFIX" in finding.recommendation and outcome.up("mlflow")
    assert finding.contract is not None and finding.contract.file.startswith("contracts/mlflow.yaml")
