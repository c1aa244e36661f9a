"""Real MLflow against the generated MLflow contract (``contracts/mlflow.yaml``).

This proves the contract generated from MLflow's protos matches the server
it describes; where MLflow deviates from its own protos, the finding is
recorded in ``contracts/known-deviations.yaml`` with the evidence.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis import Case

from hokusai_contracts.checks.suites.context import load_context
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.schemas import load_schema
from hokusai_contracts.domain.names import Suite

context = load_context()
if context.mlflow_url is None:
    pytest.skip("no direct MLflow URL: set HOKUSAI_MLFLOW_URL to test MLflow itself", allow_module_level=True)
schema = load_schema(context, "mlflow.yaml", context.mlflow_url)

pytestmark = pytest.mark.suite(Suite.MLFLOW_DIRECT)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the recorder spans all examples
def test_mlflow_direct(case: Case[Any], recorder: Recorder) -> None:
    assert context.mlflow_url is not None
    recorder.call(case, context.mlflow_url, headers=context.mlflow_headers())
