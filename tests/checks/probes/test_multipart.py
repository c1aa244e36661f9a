"""The multipart check's judgement of mpu/create's 501 (the client's fallback depends on it)."""

from __future__ import annotations

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.multipart import UNSUPPORTED, _unsupported_passes_unchanged
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckStatus

MLFLOW, PROXY = "http://mlflow.test", "http://proxy.test/api/mlflow"
PATH = "/api/2.0/mlflow-artifacts/mpu/create/contract-probe/multipart.bin"
MLFLOWS = httpx.Response(501, json={"error_code": "NOT_IMPLEMENTED", "message": UNSUPPORTED})


@pytest.mark.parametrize(("proxied", "location"), [
    (httpx.Response(502, json={"detail": "Bad gateway"}), "status"),
    (httpx.Response(501, json={"detail": "Not implemented"}), "body.message"),
    (httpx.Response(501, text="Not Implemented"), "body.message"),
])
def test_a_proxy_that_changes_the_501_is_found(proxied: httpx.Response, location: str) -> None:
    with respx.mock:
        respx.post(MLFLOW + PATH).mock(return_value=MLFLOWS)
        respx.post(PROXY + PATH).mock(return_value=proxied)
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW)
    (finding,) = check.findings
    assert finding.kind is FindingKind.DIFFERS_FROM_UPSTREAM and finding.hop is Hop.CLIENT_TO_PROXY
    assert finding.location == location and UNSUPPORTED in finding.expected
    assert "single PUT" in finding.recommendation


def test_mlflows_501_passed_on_is_no_finding() -> None:
    with respx.mock:
        respx.post(MLFLOW + PATH).mock(return_value=MLFLOWS)
        respx.post(PROXY + PATH).mock(return_value=MLFLOWS)
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW)
    assert check.status is CheckStatus.PASSED and check.findings == []
    assert "multipart" in check.name


def test_an_mlflow_that_supports_multipart_leaves_nothing_to_pass_on() -> None:
    with respx.mock:
        respx.post(MLFLOW + PATH).mock(return_value=httpx.Response(200, json={"upload_id": "u", "credentials": []}))
        respx.post(PROXY + PATH).mock(return_value=httpx.Response(200, json={}))
        check = _unsupported_passes_unchanged(PROXY, "hk_live_" + "a" * 32, MLFLOW)
    assert check.status is CheckStatus.SKIPPED
