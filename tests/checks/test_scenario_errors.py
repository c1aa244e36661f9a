"""What the scenario makes of a failing answer at each step: the failed step, its detail, its evidence.

The real MLflow client and the real steps run; only the network is a respx router (``mlflow_wire``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from hokusai_contracts import Evidence
from hokusai_contracts.checks.registration.steps import Registration, StepOutcome, mlflow_environment, run_steps
from hokusai_contracts.checks.registration.steps import register as register_step
from hokusai_contracts.checks.registration.steps import verify as verify_step
from hokusai_contracts.checks.scenario import ScenarioResult, run_registration, scenario_checks, step_result
from hokusai_contracts.report.model import CheckStatus
from tests.checks.mlflow_wire import mlflow_wire, wire_url  # noqa: F401 (the fixtures)

KEY = "hk_live_" + "Qx7" * 10 + "Rr"
API = "/api/2.0/mlflow"
REFUSED = {"error_code": "UNAUTHENTICATED", "message": "Invalid or expired API key"}


def _experiments(router: respx.MockRouter) -> None:
    router.get("/health/mlflow").respond(200, json={"mlflow": {"status": "healthy"}})
    router.post(f"{API}/experiments/search").respond(200, json={"experiments": []})


def _experiment_created(router: respx.MockRouter) -> None:
    _experiments(router)
    router.post(f"{API}/experiments/create").respond(200, json={"experiment_id": "7"})
    router.get(f"{API}/experiments/get").respond(200, json={"experiment": {
        "experiment_id": "7", "name": "contract-probe-errors", "lifecycle_stage": "active",
        "artifact_location": "mlflow-artifacts:/7"}})


def _run(router: respx.MockRouter, base: str, key: str = KEY) -> tuple[ScenarioResult, list[str]]:
    said: list[str] = []
    result = run_registration(base, key, health_url=base + "/health/mlflow", out=said.append,
                              name="contract-probe-errors")
    return result, said


def _failed(result: ScenarioResult) -> tuple[str, Evidence | None]:
    failed = result.failed_step
    assert failed is not None, [step.name for step in result.steps]
    return failed.name, failed.evidence


def test_a_malformed_key_fails_first_and_sends_nothing(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    result, said = _run(mlflow_wire, wire_url, key="hk_live_short")
    assert _failed(result) == ("api_key", None)
    assert not mlflow_wire.calls
    assert said == ["❌ FAILED at step 'api_key': API key ************* is not hk_live_/hk_test_ followed by 32 "
                    "letters and digits"]


@pytest.mark.parametrize(("answer", "noted"), [
    # Production's proxy: health behind the key check, although the contract says ``security: []``.
    (httpx.Response(401, json={"detail": "API key required"}), 'health answered 401: {"detail":"API key required"}'),
    (httpx.Response(503, json={"mlflow": {"status": "unreachable"}}), "health answered 503: {\"mlflow\""),
    (httpx.Response(404, text="no such\nroute"), "health answered 404: no such route"),
    (httpx.Response(302, headers={"location": "/login"}), "health answered 302: "),
], ids=["401", "503", "404", "redirect-not-followed"])
def test_a_health_answer_other_than_200_is_noted_and_the_registration_goes_on(
        mlflow_wire: respx.MockRouter, wire_url: str, answer: httpx.Response, noted: str) -> None:  # noqa: F811
    # The MLflow client never calls health: its answer must not decide whether registration is tried.
    mlflow_wire.get("/health/mlflow").mock(return_value=answer)
    search = mlflow_wire.post(f"{API}/experiments/search").respond(401, json=REFUSED)
    result, said = _run(mlflow_wire, wire_url)
    assert search.called
    assert _failed(result) == ("connect", Evidence.KEY_REFUSED_BY_PROXY)
    proxy = result.steps[1]
    assert (proxy.name, proxy.ok) == ("proxy", True)
    assert proxy.detail.startswith(f"Using proxy endpoint: {wire_url} ({noted}")
    assert said[1] == f"✓ {proxy.detail}"


def test_the_proxy_step_stops_the_registration_when_the_proxy_cannot_be_reached(
        mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    mlflow_wire.get("/health/mlflow").mock(side_effect=httpx.ConnectError("refused"))
    search = mlflow_wire.post(f"{API}/experiments/search").respond(200, json={"experiments": []})
    result, said = _run(mlflow_wire, wire_url)
    assert _failed(result) == ("proxy", Evidence.INFRASTRUCTURE_DOWN)
    assert "ConnectionError: " in result.steps[-1].detail and not search.called
    assert said[0].startswith("✓ API Key: hk_live_Qx...x7Rr") and said[-1].startswith("❌ FAILED at step 'proxy'")


def test_a_key_the_proxy_refuses_on_connect_is_key_refused(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    mlflow_wire.get("/health/mlflow").respond(200)
    mlflow_wire.post(f"{API}/experiments/search").respond(401, json=REFUSED)
    result, _ = _run(mlflow_wire, wire_url)
    assert _failed(result) == ("connect", Evidence.KEY_REFUSED_BY_PROXY)
    assert "UNAUTHENTICATED" in result.steps[-1].detail
    checks = scenario_checks(result)
    assert [(c.name, c.status, c.evidence) for c in checks][-1] == (
        "logistic:connect", CheckStatus.FAILED, Evidence.KEY_REFUSED_BY_PROXY)


def test_a_503_is_retried_once_then_infrastructure_down(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    mlflow_wire.get("/health/mlflow").respond(200)
    search = mlflow_wire.post(f"{API}/experiments/search").respond(503, text="<html>Service Unavailable</html>")
    result, _ = _run(mlflow_wire, wire_url)
    assert _failed(result) == ("connect", Evidence.INFRASTRUCTURE_DOWN)
    assert search.call_count == 2  # MLFLOW_HTTP_REQUEST_MAX_RETRIES=1, as the scenario sets it
    assert "too many 503 error responses" in result.steps[-1].detail


@pytest.mark.parametrize(("status", "body", "evidence"), [
    (400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Experiment 'x' already exists."}, None),
    (502, {"error_code": "BAD_GATEWAY", "message": "MLflow did not answer"}, Evidence.INFRASTRUCTURE_DOWN),
    (401, REFUSED, Evidence.KEY_REFUSED_BY_PROXY),
])
def test_creating_the_experiment(mlflow_wire: respx.MockRouter, wire_url: str, status: int,  # noqa: F811
                                 body: dict[str, str], evidence: Evidence | None) -> None:
    _experiments(mlflow_wire)
    mlflow_wire.post(f"{API}/experiments/create").respond(status, json=body)
    result, _ = _run(mlflow_wire, wire_url)
    assert _failed(result) == ("experiment", evidence)
    assert [step.name for step in result.steps if step.ok] == ["api_key", "proxy", "connect"]


def test_a_refused_run_fails_log_model_after_training(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    _experiment_created(mlflow_wire)
    mlflow_wire.post(f"{API}/runs/create").respond(401, json=REFUSED)
    result, said = _run(mlflow_wire, wire_url)
    assert _failed(result) == ("log_model", Evidence.KEY_REFUSED_BY_PROXY)
    assert result.experiment_id == "7" and result.accuracy is not None and result.run_id is None
    assert any(line.startswith("✓ Model trained with accuracy: ") for line in said)


def test_a_key_echoed_in_an_error_is_masked_in_the_detail(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    _experiments(mlflow_wire)
    mlflow_wire.post(f"{API}/experiments/create").respond(
        400, json={"error_code": "INVALID_PARAMETER_VALUE", "message": f"bad header Bearer {KEY}\nsecond line"})
    result, said = _run(mlflow_wire, wire_url)
    detail = result.steps[-1].detail
    assert KEY not in detail and "hk_live_Qx...x7Rr" in detail and "second line" not in detail
    assert all(KEY not in line for line in said)


def _registered(base: str) -> Registration:
    """A registration past log_model: what register and verify start from."""
    return Registration(base, KEY, "logistic", "contract-probe-errors", "contract-probe-errors", run_id="r1",
                        experiment_id="7")


def _outcomes(registration: Registration, *steps: Any) -> list[StepOutcome]:
    outcomes: list[StepOutcome] = []
    with mlflow_environment(registration):
        import mlflow

        registration.client = mlflow.MlflowClient(tracking_uri=registration.tracking_uri)
        mlflow.set_tracking_uri(registration.tracking_uri)
        run_steps(registration, steps, outcomes.append)
    return outcomes


@pytest.mark.parametrize(("status", "body", "evidence", "detail"), [
    # Retried (MLflow retries 5xx), then told by urllib3's words only: the evidence comes from its status.
    (503, {"error_code": "SERVICE_UNAVAILABLE", "message": "auth unreachable"}, Evidence.INFRASTRUCTURE_DOWN,
     "too many 503 error responses"),
    (401, REFUSED, Evidence.KEY_REFUSED_BY_PROXY, "UNAUTHENTICATED: Invalid or expired API key"),
    (403, {"error_code": "PERMISSION_DENIED", "message": "not yours"}, None, "PERMISSION_DENIED: not yours"),
])
def test_registering(mlflow_wire: respx.MockRouter, wire_url: str, status: int,  # noqa: F811
                     body: dict[str, str], evidence: Evidence | None, detail: str) -> None:
    mlflow_wire.post(f"{API}/registered-models/create").respond(status, json=body)
    [outcome] = _outcomes(_registered(wire_url), ("register", register_step))
    result = step_result(outcome)
    assert (result.name, result.ok, result.evidence) == ("register", False, evidence)
    assert detail in result.detail


def test_verify_fails_when_the_search_does_not_find_the_model(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    mlflow_wire.get(f"{API}/registered-models/search").respond(200, json={"registered_models": []})
    registration = _registered(wire_url)
    registration.version = "1"
    [outcome] = _outcomes(registration, ("verify", verify_step))
    result = step_result(outcome)
    assert (result.name, result.ok, result.evidence) == ("verify", False, None)
    assert result.detail == "registered model 'contract-probe-errors' is not found by search_registered_models"


def test_verify_fails_when_the_version_points_at_another_run(mlflow_wire: respx.MockRouter, wire_url: str) -> None:  # noqa: F811
    name = "contract-probe-errors"
    mlflow_wire.get(f"{API}/registered-models/search").respond(200, json={"registered_models": [{"name": name}]})
    mlflow_wire.get(f"{API}/model-versions/get").respond(200, json={"model_version": {
        "name": name, "version": "1", "run_id": "someone-else", "status": "READY"}})
    registration = _registered(wire_url)
    registration.version = "1"
    [outcome] = _outcomes(registration, ("verify", verify_step))
    assert step_result(outcome).detail == f"version 1 of {name!r} does not point at run r1"
