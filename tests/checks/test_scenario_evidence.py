"""What a failed scenario step's error says of the cause, read from the error's fields, not its text."""

from __future__ import annotations

import pytest
import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.utils.rest_utils import verify_rest_response
from urllib3.exceptions import MaxRetryError, ResponseError

from hokusai_contracts import Evidence, Suite
from hokusai_contracts.checks.scenario import (
    ModelKind,
    ScenarioResult,
    StepFailed,
    StepResult,
    evidence_of,
    scenario_checks,
)
from hokusai_contracts.report.model import CheckStatus


def _answer(status: int, body: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body.encode()
    return response


def _mlflow_error(status: int, body: str) -> BaseException:
    """What the MLflow client raises for this answer (its own code, not a copy of it)."""
    try:
        verify_rest_response(_answer(status, body), "/api/2.0/mlflow/experiments/search")
    except MlflowException as exc:
        return exc
    raise AssertionError("MLflow took the answer")


def _raised_while(cause: BaseException, error: BaseException) -> BaseException:
    """``error`` raised while handling ``cause``, as MLflow's rest_utils does (implicit chaining)."""
    try:
        try:
            raise cause
        except BaseException:
            raise error  # noqa: B904 (the implicit context is the point)
    except BaseException as raised:
        return raised


RETRIED_503 = requests.exceptions.RetryError(
    MaxRetryError(None, "/api/2.0/mlflow/experiments/search",  # type: ignore[arg-type]
                  reason=ResponseError(ResponseError.SPECIFIC_ERROR.format(status_code=503))))
RETRIED_500 = requests.exceptions.RetryError(
    MaxRetryError(None, "/x", reason=ResponseError(ResponseError.SPECIFIC_ERROR.format(status_code=500))))  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "evidence"), [
    (_mlflow_error(401, '{"error_code": "UNAUTHENTICATED", "message": "Invalid or expired API key"}'),
     Evidence.KEY_REFUSED_BY_PROXY),
    (_mlflow_error(401, "Unauthorized"), Evidence.KEY_REFUSED_BY_PROXY),
    (_mlflow_error(503, '{"error_code": "SERVICE_UNAVAILABLE", "message": "auth unreachable"}'),
     Evidence.INFRASTRUCTURE_DOWN),
    (_mlflow_error(503, "<html>Service Unavailable</html>"), Evidence.INFRASTRUCTURE_DOWN),
    (_mlflow_error(504, '{"error_code": "GATEWAY_TIMEOUT", "message": "MLflow did not answer"}'),
     Evidence.INFRASTRUCTURE_DOWN),
    (_mlflow_error(400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "no"}'), None),
    (_mlflow_error(500, "<html>boom</html>"), None),
    (_raised_while(RETRIED_503, MlflowException("API request failed with exception ...")),
     Evidence.INFRASTRUCTURE_DOWN),
    (_raised_while(RETRIED_500, MlflowException("API request failed with exception ...")), None),
    (_raised_while(requests.ConnectionError("refused"), MlflowException("API request failed")),
     Evidence.INFRASTRUCTURE_DOWN),
    (_raised_while(requests.Timeout("slow"), MlflowException("API request failed with timeout")),
     Evidence.INFRASTRUCTURE_DOWN),
    (StepFailed("proxy health answered 503", status=503), Evidence.INFRASTRUCTURE_DOWN),
    (StepFailed("proxy health answered 404", status=404), None),
    # The words alone are no evidence: only the error's fields are.
    (ValueError("UNAUTHENTICATED 503 SERVICE_UNAVAILABLE timed out"), None),
    (RestException({"error_code": "INTERNAL_ERROR", "message": "UNAUTHENTICATED upstream 503"}), None),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value))
def test_evidence_of_a_failed_step(error: BaseException, evidence: Evidence | None) -> None:
    assert evidence_of(error) is evidence


def test_scenario_checks_carry_the_evidence() -> None:
    result = ScenarioResult(ModelKind.LOGISTIC, steps=[
        StepResult("api_key", True, "API Key: hk_live_ab...cdef", 0.01),
        StepResult("connect", False, "RestException: UNAUTHENTICATED: no", 0.2, Evidence.KEY_REFUSED_BY_PROXY)])
    checks = scenario_checks(result)
    assert [(c.suite, c.name, c.status, c.evidence) for c in checks] == [
        (Suite.SCENARIO, "logistic:api_key", CheckStatus.PASSED, None),
        (Suite.SCENARIO, "logistic:connect", CheckStatus.FAILED, Evidence.KEY_REFUSED_BY_PROXY)]
