"""Which experiment the scenario registers into when ``watch`` hands it one: the same while it is active."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from mlflow.exceptions import MlflowException, RestException

from hokusai_contracts.checks.registration.steps import active_experiment as _active_experiment


class _Client:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_experiment(self, experiment_id: str) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_an_active_experiment_is_reused_a_deleted_or_missing_one_is_not() -> None:
    active = SimpleNamespace(experiment_id="7", name="contract-probe-1-a", lifecycle_stage="active")
    assert _active_experiment(_Client(active), "7") is active
    assert _active_experiment(_Client(SimpleNamespace(lifecycle_stage="deleted")), "7") is None
    # What the client raises for MLflow's answer through the proxy.
    missing = RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No Experiment with id=7 exists"})
    assert _active_experiment(_Client(missing), "7") is None
    assert _active_experiment(_Client(active), None) is None


def test_any_other_error_is_the_steps_not_a_reason_for_a_new_experiment() -> None:
    with pytest.raises(MlflowException):
        _active_experiment(_Client(RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "down"})), "7")
