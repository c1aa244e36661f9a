"""The proxy suite's explicit cases: every run sends the same encoded paths and repeated parameters."""

from __future__ import annotations

from pathlib import Path

import schemathesis

from hokusai_contracts.checks.suites.explicit import ENCODED_PATH_VALUES, encoded_path_cases, repeated_query_cases

ROOT = Path(__file__).resolve().parents[3]


def _schema() -> object:
    return schemathesis.openapi.from_path(ROOT / "contracts" / "mlflow-proxy.yaml")


def test_every_read_with_a_path_parameter_gets_each_encoded_value_as_sent() -> None:
    paths = [case.formatted_path for case in encoded_path_cases(_schema())]
    for value in ENCODED_PATH_VALUES:
        assert f"/api/2.0/mlflow/logged-models/{value}" in paths
        assert f"/api/2.0/mlflow-artifacts/artifacts/{value}" in paths
    assert any("%2F" in path for path in paths) and any("%0A" in path for path in paths)
    assert paths == [case.formatted_path for case in encoded_path_cases(_schema())]  # the same every run


def test_every_array_query_parameter_is_sent_twice_in_order() -> None:
    sent = {case.operation.path: case.as_curl_command() for case in repeated_query_cases(_schema())}
    assert "order_by=name+ASC&order_by=last_updated_timestamp+DESC" in sent["/api/2.0/mlflow/registered-models/search"]
    assert "stages=None&stages=Staging" in sent["/api/2.0/mlflow/registered-models/get-latest-versions"]
    assert "max_results=" in sent["/api/2.0/mlflow/experiments/search"]
