"""A location the reference proxy sends that the committed consumer file lacks: a warning, or an update on request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from hokusai_contracts.checks.hop_journals import ConsumerExpectations, _compare_consumers
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop

ROOT = Path(__file__).resolve().parents[2]
VALIDATE = "POST /api/v1/keys/validate"


def _validate(body: dict[str, object]) -> HttpExchange:
    return HttpExchange(seq=1, hop=Hop.PROXY_TO_AUTH, started_at=0.0, method="POST",
                        path="/api/v1/keys/validate", request_headers={"content-type": "application/json"},
                        request_body=Body.of(json.dumps(body)), status=200,
                        response_headers={"content-type": "application/json"},
                        response_body=Body.of(json.dumps({"is_valid": True, "key_id": "k", "user_id": "u"})))


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    path = tmp_path / "mlflow-proxy.yaml"
    shutil.copy(ROOT / "contracts" / "consumers" / "mlflow-proxy.yaml", path)
    return path


def _sends(path: Path) -> list[str]:
    return list(yaml.safe_load(path.read_text("utf-8"))["operations"][VALIDATE]["sends"])


@pytest.mark.parametrize("update", [False, True], ids=["by default", "UPDATE_CONSUMERS=1"])
def test_a_location_missing_from_the_consumer_file(committed: Path, update: bool) -> None:
    auth = Contract.load(ROOT / "contracts" / "auth-service.yaml", root=ROOT)
    before = committed.read_text("utf-8")
    assert "body.client_version" not in _sends(committed)
    lines: list[str] = []
    entry = _validate({"api_key": "hk_live_ab...cdef", "service_id": "platform", "client_version": "2"})
    result = _compare_consumers([entry], auth, ConsumerExpectations(committed, "contracts/consumers/x.yaml",
                                                                     update=update), lines.append)
    assert "body.client_version" in result.files["consumers/mlflow-proxy.yaml"]  # the observation, for review
    if update:
        assert result.warnings == []
        assert "body.client_version" in _sends(committed)
        assert any("added to mlflow-proxy.yaml" in line for line in lines)
    else:
        (warning,) = result.warnings
        assert warning.startswith("contracts/consumers/x.yaml: the proxy sends body.client_version on " + VALIDATE)
        assert "UPDATE_CONSUMERS=1" in warning
        assert committed.read_text("utf-8") == before  # the committed file is left as it is


def test_nothing_missing_is_nothing_to_say(committed: Path) -> None:
    auth = Contract.load(ROOT / "contracts" / "auth-service.yaml", root=ROOT)
    before = committed.read_text("utf-8")
    result = _compare_consumers([_validate({"api_key": "hk_live_ab...cdef", "service_id": "platform"})], auth,
                                ConsumerExpectations(committed, "x", update=True), print)
    assert result.warnings == [] and committed.read_text("utf-8") == before
