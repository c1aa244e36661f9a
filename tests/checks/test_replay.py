"""Replay's parts: which exchanges are replayed, keys and ids put in place, shapes compared, loopback only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.replay import _Ids, _keys, body_shape, load_replay, run_replay
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body
from hokusai_contracts.report.markdown import render_markdown
from hokusai_contracts.report.model import ReplayedExchange, Report

ROOT = Path(__file__).resolve().parents[2]
SEEDED = "hk_live_" + "S1e2e3d4" * 4
OTHER = "hk_live_" + "O9t8h7r6" * 4


@pytest.fixture(scope="module")
def contracts() -> tuple[Contract, Contract, Contract]:
    def load(name: str) -> Contract:
        return Contract.load(ROOT / "contracts" / name, root=ROOT)
    return load("auth-service.yaml"), load("mlflow.yaml"), load("mlflow-proxy.yaml")


def test_only_the_client_to_proxy_exchanges_are_replayed(tmp_path: Path,
                                                         contracts: tuple[Contract, Contract, Contract]) -> None:
    path = tmp_path / "mixed.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in [
        {"method": "POST", "url": "/api/v1/keys/validate", "status": 200},
        {"method": "GET", "url": "https://registry.example/api/mlflow/api/2.0/mlflow/experiments/get", "status": 200},
        {"method": "GET", "url": "/api/2.0/mlflow/experiments/get", "status": 200, "hop": "client->proxy"},
    ]))
    assert [item.seq for item in load_replay(path, *contracts)] == [2, 3]
    only_auth = tmp_path / "auth.ndjson"
    only_auth.write_text(json.dumps({"method": "POST", "url": "/api/v1/keys/validate"}) + "\n")
    with pytest.raises(UsageError, match="no client->proxy exchange"):
        load_replay(only_auth, *contracts)
    with pytest.raises(UsageError, match="no such file"):
        load_replay(tmp_path / "missing.har", *contracts)


def test_placeholders_and_real_keys_become_the_seeded_key_other_keys_an_unknown_one() -> None:
    assert _keys("Bearer <HOKUSAI_API_KEY>", SEEDED, OTHER) == f"Bearer {SEEDED}"
    assert _keys("api_key=<OTHER_API_KEY>", SEEDED, OTHER) == f"api_key={OTHER}"
    assert _keys("Bearer hk_live_" + "p" * 32, SEEDED, OTHER) == f"Bearer {SEEDED}"
    assert _keys("Bearer hk_live_ab...wxyz", SEEDED, OTHER) == f"Bearer {SEEDED}"


def test_ids_the_fresh_stack_gave_are_put_in_later_requests() -> None:
    ids = _Ids()
    run = "a" * 32
    ids.learn({"run": {"info": {"run_id": run, "experiment_id": "1", "status": "RUNNING",
                                "artifact_uri": f"mlflow-artifacts:/1/{run}/artifacts"}}},
              {"run": {"info": {"run_id": "b" * 32, "experiment_id": "2", "status": "FINISHED",
                                "artifact_uri": f"mlflow-artifacts:/2/{'b' * 32}/artifacts"}}})
    assert ids.ids["1"] == "2" and ids.ids[run] == "b" * 32 and "RUNNING" not in ids.ids
    assert ids.path(f"/api/2.0/mlflow-artifacts/artifacts/1/{run}/model.pkl") == (
        f"/api/2.0/mlflow-artifacts/artifacts/2/{'b' * 32}/model.pkl")
    # A short id only where a field names it: version=1 is no experiment's id.
    assert ids.query("experiment_id=1&version=1") == "experiment_id=2&version=1"
    assert json.loads(ids.body(json.dumps({"experiment_id": "1", "value": "1", "run_id": run}))) == {
        "experiment_id": "2", "value": "1", "run_id": "b" * 32}


@pytest.mark.parametrize(("body", "shape"), [
    (Body('{"b": 1, "a": 2}', 16), "json{a,b}"), (Body("[1]", 3), "json[]"), (Body("oops", 4), "text"),
    (Body(None, 0), "empty"), (Body(None, 99_999), "unknown"), (Body(recorded=False), "unknown"),
])
def test_body_shapes(body: Body, shape: str) -> None:
    assert body_shape(body) == shape


def test_nothing_is_replayed_anywhere_but_loopback() -> None:
    with pytest.raises(UsageError, match="loopback only"):
        run_replay([], "http://registry.hokus.ai", SEEDED, out=lambda line: None)


def test_the_markdown_says_what_was_reproduced() -> None:
    report = Report(tool_version="0", mode="local", replay=[
        ReplayedExchange(index=1, method="GET", path="/api/mlflow/x", recorded_status=401, replayed_status=401,
                         recorded_shape="json{detail}", replayed_shape="json{detail}", reproduced=True),
        ReplayedExchange(index=2, method="GET", path="/api/mlflow/y", recorded_status=200, replayed_status=404,
                         recorded_shape="json{}", replayed_shape="json{error_code}", reproduced=False)])
    text = render_markdown(report)
    assert "## Replay (1 of 2 recorded exchanges reproduced)" in text
    assert "| 2 | `GET /api/mlflow/y` | 200 json{} | 404 json{error_code} | **no** |" in text
