"""The live run's own conclusions over what it saw (the phases' checks are tested with their modules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hokusai_contracts.checks.live.stores import StoreWatch
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckStatus, Targets
from hokusai_contracts.run.live import _stores_seen

ROOT = Path(__file__).resolve().parents[2]
PROXY_URL = "https://registry.example/api/mlflow"


@pytest.fixture(scope="module")
def proxy() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)


def _answered(watch: StoreWatch, body: object) -> None:
    watch(HttpExchange(method="POST", path="/api/mlflow/api/2.0/mlflow/experiments/search", status=200,
                       hop=Hop.CLIENT_TO_PROXY, response_body=Body.of(json.dumps(body))))


def test_no_artifact_location_seen_is_skipped_not_passed(proxy: Contract) -> None:
    watch = StoreWatch()
    _answered(watch, {"experiments": [{"experiment_id": "0", "name": "Default"}]})  # no location of the probe's
    [check] = _stores_seen(watch, proxy, PROXY_URL, Targets()).checks
    assert (check.status, check.message) == (CheckStatus.SKIPPED,
                                             "no artifact location was handed to the client in this run")


def test_the_probe_experiments_scheme_is_the_message(proxy: Contract) -> None:
    watch = StoreWatch()
    _answered(watch, {"experiment": {"experiment_id": "3", "name": "contract-probe-1",
                                     "artifact_location": "mlflow-artifacts:/3"}})
    result = _stores_seen(watch, proxy, PROXY_URL, Targets())
    [check] = result.checks
    assert (check.status, check.message) == (CheckStatus.PASSED,
                                             "artifact location scheme of the probe experiment: mlflow-artifacts")
    assert result.targets is not None and result.targets.artifact_location_scheme == "mlflow-artifacts"
