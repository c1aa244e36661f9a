"""A location the reference proxy sends that the committed consumer file lacks: a warning, or an update on request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from hokusai_contracts.checks.hop_journals import (
    ConsumerExpectations,
    _artifact_locations,
    _client_answers,
    _compare_consumers,
    other_service_ids,
)
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.findings import Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.report.model import CheckStatus

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


def _validate_for(service_id: str) -> HttpExchange:
    body = json.dumps({"api_key": "hk_live_ab...wxyz", "service_id": service_id})
    return HttpExchange(method="POST", path="/api/v1/keys/validate", request_body=Body.of(body), status=401)


def test_a_validate_call_for_another_service_is_evidence_of_it() -> None:
    journal = [_validate_for("platform"), _validate_for("website")]
    (found,) = other_service_ids(journal, Hop.MLFLOW_TO_AUTH, "platform", [])
    assert (found.hop, found.kind, found.location, found.evidence) == (
        Hop.MLFLOW_TO_AUTH, FindingKind.UNKNOWN_VALUE, "body.service_id", Evidence.OTHER_SERVICE_ID)
    assert found.observed == "'website'"


def test_the_stacks_own_service_id_and_a_value_the_judge_named_are_not() -> None:
    assert other_service_ids([_validate_for("platform")], Hop.PROXY_TO_AUTH, "platform", []) == []
    judged = Finding(hop=Hop.PROXY_TO_AUTH, operation="POST /api/v1/keys/validate", kind=FindingKind.UNKNOWN_VALUE,
                     location="body.service_id", expected="e", observed="'ml-platform'", recommendation="r")
    assert other_service_ids([_validate_for("ml-platform")], Hop.PROXY_TO_AUTH, "platform", [judged]) == []


def _client(method: str, path: str, answer: dict[str, object], asked: dict[str, object] | None = None) -> HttpExchange:
    return HttpExchange(seq=1, hop=Hop.CLIENT_TO_PROXY, started_at=0.0, method=method, path=f"/api/mlflow{path}",
                        request_body=Body.of(json.dumps(asked) if asked is not None else None), status=200,
                        response_body=Body.of(json.dumps(answer)))


def _experiment(experiment_id: str, location: str) -> list[HttpExchange]:
    """An experiment created through the proxy (MLflow chose its location), then read back."""
    return [_client("POST", "/api/2.0/mlflow/experiments/create", {"experiment_id": experiment_id}, {"name": "x"}),
            _client("GET", "/api/2.0/mlflow/experiments/get",
                    {"experiment": {"experiment_id": experiment_id, "artifact_location": location}})]


@pytest.fixture(scope="module")
def proxy_contract() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)


def test_artifact_locations_never_seen_are_skipped_not_passed(proxy_contract: Contract) -> None:
    # A scenario stopped before its experiment: only a search answered, with no experiment of its own.
    sent = [_client("POST", "/api/2.0/mlflow/experiments/search", {"experiments": []})]
    check = _artifact_locations(sent, proxy_contract, "/api/mlflow", "http://127.0.0.1:8080")
    assert (check.status, check.message, check.findings) == (
        CheckStatus.SKIPPED, "no artifact location was handed to the client in this run", [])


def test_artifact_locations_the_client_named_itself_are_not_what_mlflow_hands_it(proxy_contract: Contract) -> None:
    sent = [_client("POST", "/api/2.0/mlflow/experiments/create", {"experiment_id": "3"},
                    {"name": "x", "artifact_location": "m}"}),
            _client("GET", "/api/2.0/mlflow/experiments/get",
                    {"experiment": {"experiment_id": "3", "artifact_location": "/srv/m}"}})]
    check = _artifact_locations(sent, proxy_contract, "/api/mlflow", "http://127.0.0.1:8080")
    assert check.status is CheckStatus.SKIPPED
    assert check.message.startswith("no artifact location was handed to the client in this run for an experiment "
                                    "it created without naming one (1 others seen")


@pytest.mark.parametrize(("locations", "schemes", "found"), [
    (["mlflow-artifacts:/1"], "mlflow-artifacts:", 0),
    # One finding per operation and field, counted: the store and the disk at the same field.
    (["mlflow-artifacts:/1", "s3://bucket/2", "/srv/mlflow/3"], "mlflow-artifacts:, s3:, (a path)", 2),
], ids=["through-the-proxy", "also-the-store-and-a-disk"])
def test_artifact_locations_name_the_schemes_seen(proxy_contract: Contract, locations: list[str], schemes: str,
                                                  found: int) -> None:
    sent = [exchange for n, location in enumerate(locations, 1) for exchange in _experiment(str(n), location)]
    check = _artifact_locations(sent, proxy_contract, "/api/mlflow", "http://127.0.0.1:8080")
    assert check.status is CheckStatus.PASSED and sum(f.count for f in check.findings) == found
    assert check.message == f"every artifact location handed to a client is writable through the proxy ({schemes})"
    if found:  # every finding known: the check says what was seen, not "writable"
        assert check.if_all_known is not None and check.if_all_known.message.startswith(
            f"artifact locations handed to a client: {schemes}; ")


MPU_CREATE = "/api/2.0/mlflow-artifacts/mpu/create/1/abc/artifacts/model"
UNSUPPORTED = {"error_code": "NOT_IMPLEMENTED",
               "message": "Multipart upload is not supported for the current artifact repository"}


def _mpu_create(hop: Hop, status: int, answer: dict[str, object], path: str = MPU_CREATE,
                sent: str = "/tmp/x/model.pkl") -> HttpExchange:
    """A multipart-enabled client's mpu/create (its body's path is its local file), and the answer it got."""
    return HttpExchange(hop=hop, method="POST", path=path, request_headers={"content-type": "application/json"},
                        request_body=Body.of(json.dumps({"path": sent, "num_parts": 3})), status=status,
                        response_headers={"content-type": "application/json"},
                        response_body=Body.of(json.dumps(answer)))


def test_mlflows_501_for_mpu_create_is_its_contract_on_every_hop() -> None:
    """A local store's 501 is the answer MLflow's contract states, not a server error, on both hops."""
    mlflow = Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT)
    proxy = Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)
    assert judge_journal([_mpu_create(Hop.PROXY_TO_MLFLOW, 501, UNSUPPORTED)], mlflow, Hop.PROXY_TO_MLFLOW,
                         forbid_credentials=True) == []
    check = _client_answers([_mpu_create(Hop.CLIENT_TO_PROXY, 501, UNSUPPORTED, "/api/mlflow" + MPU_CREATE)],
                            proxy, "/api/mlflow")
    assert check.cases == 1 and check.findings == []


def test_a_wrong_answer_or_request_on_mpu_create_is_found_at_its_contract_pointer() -> None:
    mlflow = Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT)
    proxy = Contract.load(ROOT / "contracts" / "mlflow-proxy.yaml", root=ROOT)
    rewritten = _mpu_create(Hop.CLIENT_TO_PROXY, 501, {"detail": "Not implemented"}, "/api/mlflow" + MPU_CREATE)
    found = {(f.kind, f.location): f for f in _client_answers([rewritten], proxy, "/api/mlflow").findings}
    finding = found[(FindingKind.RESPONSE_SCHEMA, "body.message")]
    assert finding.hop is Hop.CLIENT_TO_PROXY
    assert finding.operation == "POST /api/2.0/mlflow-artifacts/mpu/create/{path}"
    assert finding.contract is not None and finding.contract.file == "contracts/mlflow-proxy.yaml"
    assert finding.contract.pointer.endswith("/post/responses/501/content/application~1json/schema/required")
    # What the proxy forwarded is judged on proxy->mlflow: the body's path is required and non-empty.
    (empty,) = judge_journal([_mpu_create(Hop.PROXY_TO_MLFLOW, 400, {"error_code": "INVALID_PARAMETER_VALUE",
                                                                     "message": "Missing value"}, sent="")],
                             mlflow, Hop.PROXY_TO_MLFLOW, forbid_credentials=True)
    assert (empty.kind, empty.location) == (FindingKind.REQUEST_SCHEMA, "body.path")
    assert empty.contract is not None and "CreateMultipartUpload-input" in empty.contract.pointer
