"""The registration workflow through the proxy as a Schemathesis state machine.

The OpenAPI links of ``contracts/mlflow-proxy.overlay.yaml`` chain the calls a
registration makes: create experiment → create run → log a metric → create a
registered model → create a version → get the version back. Hypothesis walks
those links with generated data; every step is judged by the same checks as
the proxy suite. The last test fails if no walk reached the end of the chain.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from hokusai_contracts.checks.suites.context import load_context
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.schemas import load_schema
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.hops import Hop

context = load_context()
#: The operations of the walk, by operationId: limiting the machine to them keeps every walk on
#: the registration path instead of wandering through thirty other operations.
WORKFLOW_IDS = ("createExperiment", "createRun", "logMetric", "createRegisteredModel", "createModelVersion",
                "getModelVersion")
schema = load_schema(context, context.proxy_contract, context.proxy_url, positive_only=True).include(
    operation_id=list(WORKFLOW_IDS))
RECORDER = Recorder("stateful", Hop.CLIENT_TO_PROXY,
                    Contract.load(context.contracts_dir / context.proxy_contract, root=context.contracts_dir.parent),
                    context)
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

pytestmark = pytest.mark.suite("stateful")


class RegistrationWorkflow(schema.as_state_machine()):  # type: ignore[misc]
    def step(self, input: StepInput) -> StepOutput:
        response = RECORDER.call(input.case, context.proxy_url, headers=AUTH)
        if response is None:  # the transport problem is a finding already; end this walk
            raise hypothesis.errors.UnsatisfiedAssumption()
        return StepOutput(response, input.case)


TestRegistrationWorkflow: Any = RegistrationWorkflow.TestCase
TestRegistrationWorkflow.settings = hypothesis.settings(
    max_examples=max(context.max_examples, 10), stateful_step_count=8, deadline=None, derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)


def test_workflow_reached_every_step() -> None:
    unreached = [op for op in WORKFLOW if 200 not in RECORDER.statuses.get(op, set())]
    assert not unreached, (
        f"no walk got a 200 from {', '.join(unreached)}: check the links in contracts/mlflow-proxy.overlay.yaml "
        f"(statuses seen: { {op: sorted(s) for op, s in RECORDER.statuses.items()} })"
    )
