"""The multipart check's judgement of mpu/create's 501 (the client's fallback depends on it)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.multipart import (
    _UNSUPPORTED_CALLS,
    UNSUPPORTED,
    _Unsupported,
    _unsupported_passes_unchanged,
)
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckStatus

ROOT = Path(__file__).resolve().parents[3]
MLFLOW, PROXY = "http://mlflow.test", "http://proxy.test/api/mlflow"
PATH = "/api/2.0/mlflow-artifacts/mpu/create/contract-probe/multipart.bin"
MLFLOWS = httpx.Response(501, json={"error_code": "NOT_IMPLEMENTED", "message": UNSUPPORTED})
#: The 501 of mpu/create in the proxy's contract, as a JSON pointer.
ANSWER = "/paths/~1api~12.0~1mlflow-artifacts~1mpu~1create~1{path}/post/responses/501"


@pytest.fixture(scope="module")
def proxy_contract() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)


@pytest.mark.parametrize(("proxied", "kind", "location", "pointer"), [
    # Outside the contract: found by it, at the rule the answer broke.
    (httpx.Response(502, json={"detail": "Bad gateway"}), FindingKind.SERVER_ERROR, "status", "/responses"),
    (httpx.Response(501, json={"detail": "Not implemented"}), FindingKind.RESPONSE_SCHEMA, "body.message",
     ANSWER + "/content/application~1json/schema/required"),
    (httpx.Response(501, text="Not Implemented"), FindingKind.CONTENT_TYPE, "header.Content-Type",
     ANSWER + "/content"),
    # Inside the contract and still not MLflow's answer: the client's fallback breaks all the same.
    (httpx.Response(200, json={}), FindingKind.DIFFERS_FROM_UPSTREAM, "status", ANSWER),
    (httpx.Response(501, json={"error_code": "NOT_IMPLEMENTED", "message": UNSUPPORTED + " (sic)"}), None, "", ""),
])
def test_a_proxy_that_changes_the_501_is_found_at_its_contract_pointer(
        proxy_contract: Contract, proxied: httpx.Response, kind: FindingKind | None, location: str,
        pointer: str) -> None:
    with respx.mock:
        respx.post(MLFLOW + PATH).mock(return_value=MLFLOWS)
        respx.post(PROXY + PATH).mock(return_value=proxied)
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW, proxy_contract)
    if kind is None:  # MLflow's message with more after it: the client's startswith() still matches
        assert check.findings == []
        return
    found = {(f.kind, f.location): f for f in check.findings}
    finding = found[(kind, location)]
    assert finding.hop is Hop.CLIENT_TO_PROXY
    assert finding.operation == "POST /api/2.0/mlflow-artifacts/mpu/create/{path}"
    assert finding.contract is not None and finding.contract.file == "contracts/mlflow-proxy.yaml"
    assert finding.contract.pointer.endswith(pointer) and finding.contract.line
    assert finding.exchanges and finding.exchanges[0].status == proxied.status_code
    if kind is FindingKind.DIFFERS_FROM_UPSTREAM:
        assert UNSUPPORTED in finding.expected and "single PUT" in finding.recommendation


def test_mlflows_501_passed_on_is_no_finding(proxy_contract: Contract) -> None:
    with respx.mock:
        respx.post(MLFLOW + PATH).mock(return_value=MLFLOWS)
        respx.post(PROXY + PATH).mock(return_value=MLFLOWS)
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW, proxy_contract)
    assert check.status is CheckStatus.PASSED and check.findings == []
    assert "multipart" in check.name


def test_an_mlflow_that_supports_multipart_leaves_nothing_to_pass_on(proxy_contract: Contract) -> None:
    with respx.mock:
        respx.post(MLFLOW + PATH).mock(return_value=httpx.Response(200, json={"upload_id": "u", "credentials": []}))
        respx.post(PROXY + PATH).mock(return_value=httpx.Response(200, json={}))
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW, proxy_contract)
    assert check.status is CheckStatus.SKIPPED


@pytest.mark.parametrize("call", _UNSUPPORTED_CALLS[1:], ids=lambda call: call.label)
def test_every_multipart_call_must_pass_mlflows_501_on(proxy_contract: Contract, call: _Unsupported) -> None:
    """complete, abort and presigned too: a proxy without the route (a documented 404) is not MLflow's 501."""
    what = "download" if call.label == "presigned" else "upload"
    mlflows = httpx.Response(501, json={"error_code": "NOT_IMPLEMENTED",
                                        "message": f"Multipart {what} is not supported for the current artifact "
                                                   "repository"})
    with respx.mock:
        respx.route(method=call.method, url=MLFLOW + call.path).mock(return_value=mlflows)
        respx.route(method=call.method, url=PROXY + call.path).mock(return_value=httpx.Response(
            404, json={"error_code": "ENDPOINT_NOT_FOUND", "message": "No such route"}))
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW, proxy_contract, call)
    [finding] = check.findings
    assert (finding.kind, finding.location, finding.operation) == (
        FindingKind.DIFFERS_FROM_UPSTREAM, "status", call.operation)
    assert finding.contract is not None and finding.contract.pointer.endswith("/responses/501")
    with respx.mock:
        respx.route(method=call.method, url=MLFLOW + call.path).mock(return_value=mlflows)
        respx.route(method=call.method, url=PROXY + call.path).mock(return_value=mlflows)
        assert _unsupported_passes_unchanged(PROXY, "k", MLFLOW, proxy_contract, call).findings == []
