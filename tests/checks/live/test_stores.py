"""The live run's view of production's stores: the probe experiment's artifact-location scheme."""

from __future__ import annotations

import json
from pathlib import Path

from hokusai_contracts.checks.live.stores import StoreWatch
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.safety.gate import HOP_OF_TARGET
from hokusai_contracts.safety.policy import Target

ROOT = Path(__file__).resolve().parents[3]
PROXY_URL = "https://registry.example/api/mlflow"


def _answer(watch: StoreWatch, target: Target, path: str, body: object, status: int = 200) -> None:
    watch(HttpExchange(method="GET", path="/api/mlflow" + path, status=status, hop=HOP_OF_TARGET[target],
                       response_body=Body.of(json.dumps(body))))


def _create(watch: StoreWatch, experiment_id: str) -> None:
    watch(HttpExchange(method="POST", path="/api/mlflow/api/2.0/mlflow/experiments/create", status=200,
                       hop=HOP_OF_TARGET[Target.PROXY], request_body=Body.of(json.dumps({"name": "contract-probe-1"})),
                       response_body=Body.of(json.dumps({"experiment_id": experiment_id}))))


def test_the_probe_experiments_scheme_is_taken_and_an_s3_location_is_a_finding() -> None:
    seen: list[int | None] = []
    watch = StoreWatch(then=lambda exchange: seen.append(exchange.status))
    path = "/api/2.0/mlflow/experiments/get"
    _create(watch, "7")
    _answer(watch, Target.PROXY, path, {"experiment": {"name": "someone-else", "artifact_location": "gs://x/1"}})
    _answer(watch, Target.PROXY, path, {"experiment": {"name": "contract-probe-123", "experiment_id": "7",
                                                       "artifact_location": "s3://hokusai-mlflow-artifacts-prod/a/7"}})
    _answer(watch, Target.MLFLOW, path, {"experiment": {"name": "contract-probe-9", "artifact_location": "file:///x"}})
    _answer(watch, Target.PROXY, path, {"error_code": "RESOURCE_DOES_NOT_EXIST"}, status=404)
    assert seen == [200, 200, 200, 200, 404]  # the listener that was there before still hears everything
    assert watch.scheme == "s3"
    proxy = Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)
    found = watch.findings(proxy, PROXY_URL)
    assert [(f.kind, f.location, f.count) for f in found] == [
        (FindingKind.UNREACHABLE_ARTIFACT_LOCATION, "body.experiment.artifact_location", 1)]


def test_mlflow_artifacts_locations_name_the_scheme_and_find_nothing() -> None:
    watch = StoreWatch()
    _answer(watch, Target.PROXY, "/api/2.0/mlflow/experiments/get-by-name",
            {"experiment": {"name": "contract-probe-1", "artifact_location": "mlflow-artifacts:/1"}})
    proxy = Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)
    assert watch.scheme == "mlflow-artifacts" and watch.findings(proxy, PROXY_URL) == []
