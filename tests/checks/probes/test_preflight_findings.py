"""Preflight's findings, each part mocked at httpx's transport (httpx.MockTransport): pointer, exchange, curl.

A part down, silent or failing is a finding on the hop that failed, with the receiver's contract
cited and the exchange kept, so that the report gives a curl for it (issue 23).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from hokusai_contracts.checks.probes.preflight import Preflight, run_preflight
from hokusai_contracts.domain.findings import Evidence, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.run.inputs import Inputs, load_inputs
from tests.checks.probes.reproducible import assert_reproducible

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
