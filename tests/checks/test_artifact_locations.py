"""unreachable_artifact_location: where MLflow sends a client to write its artifacts, judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hokusai_contracts.checks.artifact_locations import judge_artifact_locations, locations_in, unreachable_reason
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop

ROOT = Path(__file__).resolve().parents[2]
PROXY = "127.0.0.1:8080"


def Entry(method: str, path: str, status: int | None, response_body: str | None,  # noqa: N802 - a record's shape
          request_body: str | None = None) -> HttpExchange:
    return HttpExchange(method=method, path=path, status=status, response_body=Body.of(response_body),
                        request_body=Body.of(request_body), hop=Hop.CLIENT_TO_PROXY)


def _created(experiment_id: str, **asked: str) -> Entry:
    return Entry("POST", "/api/mlflow/api/2.0/mlflow/experiments/create", 200,
                 json.dumps({"experiment_id": experiment_id}), request_body=json.dumps({"name": "x", **asked}))


@pytest.fixture(scope="module")
def proxy() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)


@pytest.mark.parametrize(("location", "unreachable"), [
    ("mlflow-artifacts:/1", False),
    ("mlflow-artifacts:/1/abc/artifacts", False),
    ("mlflow-artifacts://elsewhere:5000/1", True),
    ("s3://hokusai-mlflow-artifacts-prod/artifacts/1", True),
    ("gs://bucket/1", True),
    ("file:///mlflow/artifacts/1", True),
    ("/mlflow/artifacts/1", True),
    (f"http://{PROXY}/api/2.0/mlflow-artifacts/artifacts/1", False),
    ("https://storage.example/1", True),
])
def test_what_a_client_can_write_through_the_proxy(location: str, unreachable: bool) -> None:
    assert (unreachable_reason(location, PROXY) is not None) is unreachable


def test_the_fields_that_carry_a_location_are_found_in_single_and_listed_answers() -> None:
    body = {"experiments": [{"experiment_id": "1", "artifact_location": "s3://b/1"},
                            {"experiment_id": "2", "artifact_location": "mlflow-artifacts:/2"}],
            "run": {"info": {"experiment_id": "1", "artifact_uri": "s3://b/1/r/artifacts"}}}
    assert list(locations_in(body)) == [("experiments.artifact_location", "s3://b/1", "1"),
                                        ("experiments.artifact_location", "mlflow-artifacts:/2", "2"),
                                        ("run.info.artifact_uri", "s3://b/1/r/artifacts", "1")]


def test_an_s3_location_is_a_finding_at_its_field_on_client_to_proxy_counted_per_operation(proxy: Contract) -> None:
    mount = "/api/mlflow"
    experiment = json.dumps({"experiment": {"experiment_id": "1", "artifact_location": "s3://bucket/artifacts/1"}})
    run = json.dumps({"run": {"info": {"run_id": "r", "experiment_id": "1",
                                       "artifact_uri": "s3://bucket/artifacts/1/r/artifacts"}}})
    entries = [_created("1"), Entry("GET", f"{mount}/api/2.0/mlflow/experiments/get", 200, experiment),
               Entry("GET", f"{mount}/api/2.0/mlflow/experiments/get", 200, experiment),
               Entry("POST", f"{mount}/api/2.0/mlflow/runs/create", 200, run),
               Entry("GET", f"{mount}/api/2.0/mlflow/experiments/get", 404, experiment),  # not an answer to act on
               Entry("GET", f"{mount}/api/2.0/mlflow/experiments/get", 200, "not json")]
    found = judge_artifact_locations(entries, proxy, mount, PROXY)
    assert [(f.operation, f.location, f.count) for f in found] == [
        ("GET /api/2.0/mlflow/experiments/get", "body.experiment.artifact_location", 2),
        ("POST /api/2.0/mlflow/runs/create", "body.run.info.artifact_uri", 1)]
    first = found[0]
    assert first.kind is FindingKind.UNREACHABLE_ARTIFACT_LOCATION and first.hop is Hop.CLIENT_TO_PROXY
    assert first.observed.startswith("s3://bucket/artifacts/1 (scheme s3)")
    assert "credentials" in first.observed and "model-versions/create" in first.recommendation
    assert first.contract is not None and first.contract.file == "contracts/mlflow-proxy.yaml"


def test_mlflow_artifacts_locations_are_no_finding(proxy: Contract) -> None:
    body = json.dumps({"experiment": {"experiment_id": "1", "artifact_location": "mlflow-artifacts:/1"}})
    entries = [_created("1"), Entry("GET", "/api/mlflow/api/2.0/mlflow/experiments/get", 200, body)]
    assert judge_artifact_locations(entries, proxy, "/api/mlflow", PROXY) == []


def test_only_experiments_whose_location_mlflow_chose_through_the_proxy_are_judged(proxy: Contract) -> None:
    """A fuzzer's artifact_location "m}" is its own doing; an experiment made elsewhere says nothing."""
    mount = "/api/mlflow"
    def run(experiment_id: str, uri: str) -> Entry:
        body = json.dumps({"run": {"info": {"experiment_id": experiment_id, "artifact_uri": uri}}})
        return Entry("POST", f"{mount}/api/2.0/mlflow/runs/create", 200, body)

    entries = [_created("81", artifact_location="m}"), _created("7"),
               run("81", "/tmp/stack/mlflow/m}/r/artifacts"), run("0", "s3://b/0/r/artifacts"),
               run("7", "/srv/mlflow/7/r/artifacts")]
    found = judge_artifact_locations(entries, proxy, mount, PROXY)
    assert [(f.location, f.observed.split(" ")[0]) for f in found] == [("body.run.info.artifact_uri",
                                                                       "/srv/mlflow/7/r/artifacts")]
