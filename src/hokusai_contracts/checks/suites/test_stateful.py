"""The registration workflow through the proxy as a Schemathesis state machine.

The OpenAPI links of ``contracts/mlflow-proxy.overlay.yaml`` chain the calls a
registration makes: create experiment → create run → log a metric → create a
registered model → create a version → get the version back. Hypothesis walks
those links with generated data; every step is judged by the same checks as
the proxy suite. The last test fails if no walk reached the end of the chain.
"""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from hokusai_contracts.checks.suites.context import load_context
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.schemas import load_schema
from hokusai_contracts.domain.names import Suite

context = load_context()
#: The operations of the walk, by operationId: limiting the machine to them keeps every walk on
#: the registration path instead of wandering through thirty other operations.
WORKFLOW_IDS = ("createExperiment", "createRun", "logMetric", "createRegisteredModel", "createModelVersion",
                "getModelVersion")
schema = load_schema(context, "mlflow-proxy.yaml", context.proxy_url, positive_only=True).include(
    operation_id=list(WORKFLOW_IDS))
AUTH = {"Authorization": f"Bearer {context.api_key}"}

#: The chain a registration walks; each must answer 200 at least once.
WORKFLOW = (
    "POST /api/2.0/mlflow/experiments/create",
    "POST /api/2.0/mlflow/runs/create",
    "POST /api/2.0/mlflow/runs/log-metric",
    "POST /api/2.0/mlflow/registered-models/create",
    "POST /api/2.0/mlflow/model-versions/create",
    "GET /api/2.0/mlflow/model-versions/get",
)
SETTINGS = hypothesis.settings(
    max_examples=max(context.max_examples, 20), stateful_step_count=10, deadline=None, derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    # No replay and no shrinking: a walk's next step depends on what the server answered, which a
    # replay against a server whose state has moved on cannot reproduce (FlakyStrategyDefinition).
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate], database=None,
)

pytestmark = pytest.mark.suite(Suite.STATEFUL)

Base = schema.as_state_machine()


@pytest.fixture(scope="module")
def reached() -> dict[str, set[int]]:
    """The statuses the walks saw per operation, for the test that judges how far they got."""
    return {}


def test_registration_workflow(recorder: Recorder, reached: dict[str, set[int]]) -> None:
    class RegistrationWorkflow(Base):  # type: ignore[misc,valid-type]
        def step(self, input: StepInput) -> StepOutput:
            response = recorder.call(input.case, context.proxy_url, headers=AUTH)
            if response is None:  # the transport problem is a finding already; end this walk
                raise hypothesis.errors.UnsatisfiedAssumption()
            return StepOutput(response, input.case)

    try:
        run_state_machine_as_test(RegistrationWorkflow, settings=SETTINGS)
    except hypothesis.errors.FlakyStrategyDefinition:
        # Hypothesis' complaint that a walk drew differently from an earlier one with the same
        # start: the server's state (a bundle filled or not by its answers) moved on between them.
        # It says nothing of the contract: every step's answer was judged by the recorder already,
        # and the next test says whether the walks reached the end of the chain.
        pass
    finally:
        reached.update(recorder.statuses)


def test_workflow_reached_every_step(reached: dict[str, set[int]]) -> None:
    unreached = [op for op in WORKFLOW if 200 not in reached.get(op, set())]
    assert not unreached, (
        f"no walk got a 200 from {', '.join(unreached)}: check the links in contracts/mlflow-proxy.overlay.yaml "
        f"(statuses seen: { {op: sorted(s) for op, s in reached.items()} })"
    )
