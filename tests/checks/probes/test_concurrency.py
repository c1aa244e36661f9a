"""The concurrency probe's verdict on the versions MLflow lists, MLflow mocked at httpx's transport (respx).

The registrations themselves are real processes (tests/integration/test_concurrency.py); here,
what their outcome is judged as, and that a finding cites the contract and keeps the listing.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.concurrency import judge_versions
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.run.inputs import load_inputs
from tests.checks.probes.reproducible import assert_reproducible

MLFLOW = "http://mlflow.test"
SEARCH = MLFLOW + "/api/2.0/mlflow/model-versions/search"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_inputs().proxy


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as mocked:
        yield mocked


def _listing(*versions: tuple[int, str]) -> httpx.Response:
    return httpx.Response(200, json={"model_versions": [{"version": str(v), "run_id": run} for v, run in versions]})


def test_each_registration_its_own_version_and_run_is_no_finding(router: respx.MockRouter,
                                                                 contract: Contract) -> None:
    router.get(SEARCH).mock(return_value=_listing((1, "a"), (2, "b"), (3, "c")))
    assert judge_versions(MLFLOW, "m", [0, 0, 0], contract) is None


@pytest.mark.parametrize(("listing", "codes", "problem"), [
    (_listing((1, "a"), (2, "a")), [0, 0], "two versions point at the same run"),
    (_listing((1, "a")), [0, 0], "versions [1], expected [1, 2]"),
    (_listing((1, "a"), (2, "b")), [0, 1], "1 of 2 registrations failed"),
    (httpx.Response(503, text="down"), [0, 0], "MLflow did not list the versions (503)"),
])
def test_a_lost_or_shared_version_is_a_finding_with_the_listing(router: respx.MockRouter, contract: Contract,
                                                                listing: httpx.Response, codes: list[int],
                                                                problem: str) -> None:
    route = router.get(SEARCH).mock(return_value=listing)
    finding = judge_versions(MLFLOW, "m", codes, contract)
    assert finding is not None and finding.kind is FindingKind.SCENARIO_STEP and problem in finding.observed
    assert route.calls.last.request.url.params["filter"] == "name='m'"
    assert finding.contract is not None and finding.contract.pointer.endswith("/post/responses/200")
    assert SEARCH in assert_reproducible(finding)
