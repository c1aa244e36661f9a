"""A replayed request outside the proxy's contract: what the proxy forwarded meanwhile is judged for the key alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_contracts.checks.hop_journals import _judge_mlflow_journal
from hokusai_contracts.checks.replayed_forwards import outside_contract, split_by_cause
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop

ROOT = Path(__file__).resolve().parents[2]
MOUNT = "/api/mlflow"
KEY = "hk_live_" + "r" * 28 + "PLAY"
BEARER = {"authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def proxy() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)


@pytest.fixture(scope="module")
def mlflow() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT)


def _client(path: str, at: float, *, headers: dict[str, str] | None = None, body: str | None = None,
            method: str = "GET", elapsed_ms: float | None = 100.0) -> HttpExchange:
    return HttpExchange(method=method, path=MOUNT + path, hop=Hop.CLIENT_TO_PROXY, started_at=at,
                        elapsed_ms=elapsed_ms, request_headers=BEARER if headers is None else headers,
                        request_body=Body.of(body), status=404)


def _forwarded(path: str, at: float, *, headers: dict[str, str] | None = None) -> HttpExchange:
    return HttpExchange(method="GET", path=path, hop=Hop.PROXY_TO_MLFLOW, started_at=at,
                        request_headers=headers or {}, status=404,
                        response_headers={"content-type": "application/json"},
                        response_body=Body.of('{"detail":"Not Found"}'))


def test_a_request_the_proxy_contract_allows_is_not_outside_it(proxy: Contract) -> None:
    assert outside_contract([_client("/api/2.0/mlflow/logged-models/m-1", 10.0)], proxy, MOUNT) == ()


@pytest.mark.parametrize("path", ["/api/2.0/mlflow/logged-models/contract-probe\nnewline",
                                  "/api/2.0/mlflow-artifacts/artifacts/contract-probe\x00nul",
                                  "/api/2.0/mlflow/logged-models/contract-probe/slash"])
def test_a_transit_probes_path_is_outside_the_contract(proxy: Contract, path: str) -> None:
    sent = _client(path, 10.0)
    assert outside_contract([sent], proxy, MOUNT) == (sent,)


def test_where_the_key_went_does_not_make_a_request_outside_the_contract(proxy: Contract) -> None:
    # Judged on every hop anyway: a request without its key is the credential probes' business.
    assert outside_contract([_client("/api/2.0/mlflow/logged-models/m-1", 10.0, headers={})], proxy, MOUNT) == ()


def test_a_request_without_its_times_cannot_be_paired_and_is_left_out(proxy: Contract) -> None:
    untimed = _client("/api/2.0/mlflow/logged-models/bad\nid", 10.0, elapsed_ms=None)
    assert outside_contract([untimed], proxy, MOUNT) == ()


def test_forwards_are_split_by_the_client_request_under_way_when_they_arrived() -> None:
    cause = _client("/x", 10.0, elapsed_ms=50.0)  # under way from 10.0 to 10.05
    before, during, after = _forwarded("/a", 9.99), _forwarded("/b", 10.02), _forwarded("/c", 10.06)
    assert split_by_cause([before, during, after], [cause]) == ([before, after], [during])
    assert split_by_cause([before, during], []) == ([before, during], [])


def test_the_forward_of_an_invalid_replayed_request_is_judged_for_the_key_alone(mlflow: Contract,
                                                                                  proxy: Contract) -> None:
    sent = _client("/api/2.0/mlflow/logged-models/contract-probe\nnewline", 10.0)
    invalid = _forwarded("/api/2.0/mlflow/logged-models/contract-probe\nnewline", 10.01)
    leaked = _forwarded("/api/2.0/mlflow/logged-models/contract-probe\nnewline", 10.02, headers=BEARER)
    causes = outside_contract([sent], proxy, MOUNT)

    judged = _judge_mlflow_journal([invalid, leaked], 2, mlflow, causes)
    # The key the proxy passed on is still its leak; the malformed path and MLflow's answer to it are not its doing.
    assert {(f.kind, f.location) for f in judged} == {(FindingKind.CREDENTIAL_LEAK, "header.Authorization")}

    # The same forwards without a replayed cause: a real client's traffic, judged in full.
    in_full = {(f.kind, f.location) for f in _judge_mlflow_journal([invalid, leaked], 2, mlflow, ())}
    assert {(FindingKind.REQUEST_SCHEMA, "path.model_id"), (FindingKind.RESPONSE_SCHEMA, "body.error_code")} <= in_full
