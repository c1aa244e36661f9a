"""The MLflow proxy against its contract (``contracts/mlflow-proxy.yaml``), with the seeded key.

Every read is also sent straight to MLflow and the answers compared
(``differential.compare_with_upstream``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis import Case

from hokusai_contracts.checks.suites.context import load_context
from hokusai_contracts.checks.suites.differential import compare_with_upstream
from hokusai_contracts.checks.suites.explicit import encoded_path_cases, repeated_query_cases
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.schemas import load_schema
from hokusai_contracts.domain.names import Suite

context = load_context()
# Positive cases only: how MLflow rejects invalid data is the mlflow-direct suite's question, and
# the proxy passes MLflow's answers through; here every case is one a real client could send,
# which halves the suite's time and keeps the differential check meaningful.
schema = load_schema(context, "mlflow-proxy.yaml", context.proxy_url, positive_only=True)

pytestmark = pytest.mark.suite(Suite.PROXY)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the recorder spans all examples
def test_proxy(case: Case[Any], recorder: Recorder) -> None:
    headers = {"Authorization": f"Bearer {context.api_key}"}
    response = recorder.call(case, context.proxy_url, headers=headers)
    raw = case.operation.definition.raw
    if response is not None and context.mlflow_url and raw.get("x-live-safe") and not raw.get("x-proxy-only"):
        compare_with_upstream(recorder, case, response, context.mlflow_url, context.proxy_url, headers)


# Not in live runs: their request budget is for the contract's own operations, and a production
# proxy is not the place to try control characters.
explicit = pytest.mark.skipif(context.live_safe_only, reason="local runs only")


def _every_operation() -> Any:
    """The whole contract, whichever shard of it this process runs (the explicit tests are the first shard's)."""
    return load_schema(context, "mlflow-proxy.yaml", context.proxy_url, positive_only=True, sharded=False)


@explicit
def test_proxy_encoded_paths(recorder: Recorder) -> None:
    """Every read with a path parameter, with %2F, control characters, DEL, space and % in it."""
    for case in encoded_path_cases(_every_operation()):
        recorder.call(case, context.proxy_url, headers={"Authorization": f"Bearer {context.api_key}"})


@explicit
def test_proxy_repeated_query(recorder: Recorder) -> None:
    """Every read with an array query parameter, given twice: the proxy must pass both, in order."""
    for case in repeated_query_cases(_every_operation()):
        recorder.call(case, context.proxy_url, headers={"Authorization": f"Bearer {context.api_key}"})
