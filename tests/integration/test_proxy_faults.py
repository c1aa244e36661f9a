"""How the reference proxy answers when an upstream is slow or down (real processes, real signals).

A slow upstream is a paused process (SIGSTOP: the port accepts, nobody answers); a down one is
a stopped process (the port refuses). Each test gets its own stack because it breaks it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@pytest.fixture
def stack() -> Iterator[ProcessStack]:
    # No cache, short timeouts: every call asks the auth service, and a hang ends fast.
    definition = StackDefinition(proxy_env={"PROXY_CACHE_TTL_S": "0", "PROXY_AUTH_TIMEOUT_S": "1",
                                            "PROXY_MLFLOW_TIMEOUT_S": "2"})
    with running_stack(definition) as running:
        yield running


def _search(stack: ProcessStack) -> httpx.Response:
    endpoints = stack.endpoints
    assert endpoints is not None
    return httpx.get(endpoints.proxy_url + SEARCH, headers={"Authorization": f"Bearer {endpoints.api_key}"},
                     timeout=20)


@pytest.mark.parametrize(
    ("part", "action", "status", "error_code"),
    [
        (Part.AUTH, "pause", 504, "GATEWAY_TIMEOUT"),
        (Part.AUTH, "kill", 503, "SERVICE_UNAVAILABLE"),
        (Part.MLFLOW, "pause", 504, "GATEWAY_TIMEOUT"),
        (Part.MLFLOW, "kill", 502, "BAD_GATEWAY"),
    ],
)
def test_upstream_faults_map_to_documented_statuses(stack: ProcessStack, part: Part, action: str, status: int,
                                                    error_code: str) -> None:
    assert _search(stack).status_code == 200
    getattr(stack, action)(part)
    try:
        response = _search(stack)
    finally:
        if action == "pause":
            stack.resume(part)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == error_code
