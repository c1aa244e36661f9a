"""The large-artifact probe's client-side logic, the proxy mocked at httpx's transport (respx).

A refused upload is judged by the proxy contract (issue 23): a status the upload does not
document is ``undocumented_status`` at ``status``, with the pointer, the exchange and a curl that
gives the body by size and SHA-256. The real round trip is tests/integration/test_large_artifact.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.artifacts import run_large_artifact
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.redact import forget_secrets, register_secrets
from hokusai_contracts.run.inputs import load_inputs
from tests.checks.probes.reproducible import assert_reproducible

KEY = "hk_live_" + "Artif1" * 5 + "ab"
PROXY = "http://proxy.test/api/mlflow"
ARTIFACTS = PROXY + "/api/2.0/mlflow-artifacts/artifacts/"
PUT = "PUT /api/2.0/mlflow-artifacts/artifacts/{path}"
GET = "GET /api/2.0/mlflow-artifacts/artifacts/{path}"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_inputs().proxy


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    register_secrets(KEY)  # as a run registers its key: the curl then names it $HOKUSAI_API_KEY
    try:
        with respx.mock(assert_all_called=False) as mocked:
            yield mocked
    finally:
        forget_secrets()


def _finding(contract: Contract) -> Finding | None:
    result = run_large_artifact(PROXY, KEY, 1, None, contract=contract)
    (check,) = result.checks
    assert result.metrics["artifact_mb"] == 1.0
    return check.findings[0] if check.findings else None


def test_a_413_to_the_upload_is_an_undocumented_status_with_a_curl(router: respx.MockRouter,
                                                                    contract: Contract) -> None:
    sent: list[bytes] = []

    def too_large(request: httpx.Request) -> httpx.Response:
        sent.append(request.read())
        return httpx.Response(413, text="<html>413 Request Entity Too Large</html>",
                              headers={"Content-Type": "text/html"})

    router.put(url__startswith=ARTIFACTS).mock(side_effect=too_large)
    finding = _finding(contract)
    assert finding is not None
    assert (finding.kind, finding.location, finding.operation) == (FindingKind.UNDOCUMENTED_STATUS, "status", PUT)
    assert finding.observed.startswith("413") and "documented statuses" in finding.expected
    assert finding.contract is not None and finding.contract.pointer.endswith("/put/responses")
    (exchange,) = finding.exchanges
    assert exchange.status == 413 and exchange.request_body is None
    digest = hashlib.sha256(sent[0]).hexdigest()
    assert (exchange.request_body_size, exchange.request_body_sha256) == (1024 * 1024, digest)
    curl = assert_reproducible(finding)
    assert f"# the request body was 1048576 bytes (sha256 {digest})" in curl
    assert '"$HOKUSAI_API_KEY"' in curl and KEY not in curl


@pytest.mark.parametrize(("status", "kind", "location"), [
    (500, FindingKind.SERVER_ERROR, "status"),  # not documented for the upload, and the proxy's own failure
    (404, FindingKind.ARTIFACT_MISMATCH, "body"),  # documented (MLflow's), but the artifact is not stored
    (502, FindingKind.ARTIFACT_MISMATCH, "body"),
])
def test_other_refusals_of_the_upload(router: respx.MockRouter, contract: Contract, status: int,
                                      kind: FindingKind, location: str) -> None:
    router.put(url__startswith=ARTIFACTS).mock(return_value=httpx.Response(status, text="no"))
    finding = _finding(contract)
    assert finding is not None and (finding.kind, finding.location) == (kind, location)
    assert_reproducible(finding)


def test_a_read_back_that_differs_is_an_artifact_mismatch_on_the_download(router: respx.MockRouter,
                                                                          contract: Contract) -> None:
    router.put(url__startswith=ARTIFACTS).mock(return_value=httpx.Response(200, json={}))
    router.get(url__startswith=ARTIFACTS).mock(return_value=httpx.Response(200, content=b"\0" * 1000))
    finding = _finding(contract)
    assert finding is not None
    assert (finding.kind, finding.location, finding.operation) == (FindingKind.ARTIFACT_MISMATCH, "body", GET)
    assert finding.observed.startswith("200, 1000 bytes")
    assert finding.contract is not None and finding.contract.pointer.endswith("/get/responses/200")
    assert_reproducible(finding)


def test_a_byte_identical_round_trip_has_no_finding(router: respx.MockRouter, contract: Contract) -> None:
    stored: dict[str, bytes] = {}

    def put(request: httpx.Request) -> httpx.Response:
        stored[request.url.path] = request.read()
        return httpx.Response(200, json={})

    router.put(url__startswith=ARTIFACTS).mock(side_effect=put)
    router.get(url__startswith=ARTIFACTS).mock(side_effect=lambda request: httpx.Response(
        200, content=stored[request.url.path]))
    assert _finding(contract) is None


def test_a_cut_upload_is_a_finding_with_its_exchange(router: respx.MockRouter, contract: Contract) -> None:
    router.put(url__startswith=ARTIFACTS).mock(side_effect=httpx.RemoteProtocolError("peer closed"))
    finding = _finding(contract)
    assert finding is not None and finding.kind is FindingKind.ARTIFACT_MISMATCH
    assert finding.exchanges[0].error and finding.exchanges[0].request_body_size == 1024 * 1024
    assert_reproducible(finding)
