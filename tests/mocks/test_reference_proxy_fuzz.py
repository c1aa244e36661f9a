"""Schemathesis against the reference proxy: thousands of cases, no 5xx of its own, no undocumented status.

The proxy runs in-process (Schemathesis' ASGI support), so a crash fails the test with its
traceback; its upstreams are real, the fake auth service and the pinned MLflow server of a process
stack, as ``make contract-local`` runs them. The proxy's HTTP client is wrapped to record what
MLflow answered, so a 5xx that MLflow gave (its own robustness bugs, reviewed in
``contracts/known-deviations.yaml``, passed through unchanged) is told apart from one the proxy
made up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hokusai_mocks.reference_proxy.app import ReferenceProxy
from hokusai_mocks.reference_proxy.settings import ProxySettings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

from hokusai_contracts.stack.definition import StackDefinition, project_root
from hokusai_contracts.stack.processes import StackEndpoints, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTRACT_PATH = project_root() / "contracts" / "mlflow-proxy.yaml"
MOUNTS = ("/api/mlflow", "/mlflow")  # the current mount and the earlier one, both served


class _RecordingTransport(httpx.AsyncBaseTransport):
    """The network, plus the status of every answer MLflow gave the proxy."""

    def __init__(self, mlflow_url: str) -> None:
        self.network = httpx.AsyncHTTPTransport()
        self.mlflow = httpx.URL(mlflow_url)
        self.mlflow_statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.network.handle_async_request(request)
        if (request.url.host, request.url.port) == (self.mlflow.host, self.mlflow.port):
            self.mlflow_statuses.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.network.aclose()


@dataclass
class Target:
    app: ReferenceProxy
    transport: _RecordingTransport
    endpoints: StackEndpoints


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with running_stack(StackDefinition(with_journals=False)) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        transport = _RecordingTransport(endpoints.mlflow_url)
        settings = ProxySettings(auth_url=endpoints.auth_url, mlflow_url=endpoints.mlflow_url,
                                 service_id=endpoints.service_id)
        yield Target(ReferenceProxy(settings, transport=transport), transport, endpoints)


def _fuzz(target: Target, mode: GenerationMode, examples: int) -> Counter[int]:
    """The proxy's answers by status. Hypothesis shrinks a failure to a minimal case; Schemathesis
    adds a curl to reproduce it."""
    schema = schemathesis.openapi.from_path(CONTRACT_PATH)
    if mode is GenerationMode.NEGATIVE:
        # An operation with neither parameters nor a body has nothing to make invalid.
        schema = schema.include(func=lambda ctx: bool(ctx.operation.definition.raw.get("parameters")
                                                      or ctx.operation.definition.raw.get("requestBody")))
    key = {"Authorization": f"Bearer {target.endpoints.api_key}"}
    answered: Counter[int] = Counter()

    @hypothesis_settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=mode), mount=st.sampled_from(MOUNTS))
    def run(case: schemathesis.Case, mount: str) -> None:
        target.transport.mlflow_statuses.clear()
        response = case.call(base_url="http://testserver" + mount, app=target.app, headers=key)
        answered[response.status_code] += 1
        if response.status_code >= 500:
            relayed = target.transport.mlflow_statuses[-1:] == [response.status_code]
            # The curl names the key as a variable: the seeded key stays out of test output.
            curl = case.as_curl_command(headers={"Authorization": "Bearer $HOKUSAI_API_KEY"})
            assert relayed, (f"the proxy answered {response.status_code} to {case.operation.label} while MLflow "
                             f"answered {target.transport.mlflow_statuses}: {response.text[:300]}\n{curl}")
        case.validate_response(response, checks=[status_code_conformance])

    run()
    return answered


def test_valid_requests_get_no_5xx_of_the_proxys_own_and_only_documented_statuses(target: Target) -> None:
    answered = _fuzz(target, GenerationMode.POSITIVE, examples=750)
    # The key worked and MLflow was reached: not a thousand 401s in a row.
    assert answered[200] > 100, answered


def test_invalid_requests_get_no_5xx_of_the_proxys_own_and_only_documented_statuses(target: Target) -> None:
    answered = _fuzz(target, GenerationMode.NEGATIVE, examples=750)
    assert answered[400] > 100, answered
