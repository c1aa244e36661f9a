"""How the reference proxy answers when an upstream is slow, down or cut off (real processes, real signals).

A slow upstream is a paused process (SIGSTOP: the port accepts, nobody answers); a down one is
a stopped process (the port refuses); a dropped connection is the journal in front of MLflow
resetting the proxy's connection mid-upload. Each test gets its own stack because it breaks it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from hokusai_contracts.checks.probes.fault_verdicts import judge_fault
from hokusai_contracts.checks.probes.faults import FAULTS, UPLOAD, run_faults
from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.domain.findings import DiagnosisCategory, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.diagnosis import diagnose
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.run.inputs import load_inputs
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


def _answers_before_the_fault(stack: ProcessStack) -> None:
    # The short timeouts above can expire on a loaded machine too (a 504 with nothing broken yet):
    # the baseline may take a few tries; the fault's answer below gets one.
    deadline = time.monotonic() + 15
    while (response := _search(stack)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert response.status_code == 200, response.text


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
    _answers_before_the_fault(stack)
    getattr(stack, action)(part)
    try:
        response = _search(stack)
    finally:
        if action == "pause":
            stack.resume(part)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == error_code


DROP = next(case for case in FAULTS if case.operation == UPLOAD)


@pytest.fixture(scope="module")
def mended_stack() -> Iterator[ProcessStack]:
    """One stack for the drop tests: each mends the fault it sets, so they can share it."""
    with running_stack(StackDefinition()) as running:
        yield running


ARTIFACT = "/api/2.0/mlflow-artifacts/artifacts/contract-probe/dropped.bin"


def _upload(stack: ProcessStack, megabytes: int = 8) -> httpx.Response:
    endpoints = stack.endpoints
    assert endpoints is not None
    chunks = (b"\x00" * 1024 * 1024 for _ in range(megabytes))
    return httpx.put(endpoints.proxy_url + ARTIFACT, content=chunks, timeout=20,
                     headers={"Authorization": f"Bearer {endpoints.api_key}",
                              "Content-Length": str(megabytes * 1024 * 1024)})


def _mlflow_fault(stack: ProcessStack, mode: str) -> None:
    assert stack.endpoints is not None and stack.endpoints.mlflow_journal_url
    httpx.post(stack.endpoints.mlflow_journal_url + "/__journal__/fault", timeout=10,
               json={"mode": mode, "path_contains": "/mlflow-artifacts/"}).raise_for_status()


def test_mlflow_dropping_an_upload_is_a_bad_gateway_and_the_proxy_recovers(mended_stack: ProcessStack) -> None:
    stack = mended_stack
    _answers_before_the_fault(stack)
    _mlflow_fault(stack, "drop")
    started = time.monotonic()
    response = _upload(stack)
    assert time.monotonic() - started < 5
    assert response.status_code == 502, response.text
    assert response.json()["error_code"] == "BAD_GATEWAY"
    _mlflow_fault(stack, "none")
    assert _upload(stack).status_code == 200  # no broken connection left in the proxy's pool


def test_the_faults_suite_passes_the_reference_proxy_on_a_dropped_upload(mended_stack: ProcessStack) -> None:
    stack = mended_stack
    assert stack.endpoints is not None
    lines: list[str] = []
    result = run_faults(stack, stack.endpoints, delay_s=6.0, out=lines.append, cases=[DROP],
                        contract=load_inputs().proxy)
    (check,) = result.checks
    assert check.findings == []
    assert check.status is CheckStatus.PASSED and check.operation == UPLOAD
    assert check.message.startswith("proxy answered 502"), check.message
    assert check.seconds < 10


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        (ProbeResult("PUT", "http://proxy" + ARTIFACT, 0.05, error="unreachable: RemoteProtocolError"),
         FindingKind.UNREACHABLE),
        (ProbeResult("PUT", "http://proxy" + ARTIFACT, 16.0, error="timeout"), FindingKind.TIMEOUT),
    ],
)
def test_a_proxy_failing_the_dropped_upload_is_diagnosed_as_infrastructure(result: ProbeResult,
                                                                           kind: FindingKind) -> None:
    # A proxy that passes the cut on to its client, or waits for an upload that will never finish.
    baseline = ProbeResult("PUT", "http://proxy" + ARTIFACT, 0.5, response=httpx.Response(200))
    (finding,) = judge_fault(DROP, result, baseline, delay_s=6.0, wait_s=10.0, contract=load_inputs().proxy).findings
    assert (finding.hop, finding.kind, finding.operation) == (Hop.CLIENT_TO_PROXY, kind, UPLOAD)
    diagnosis = diagnose(Report(tool_version="t", mode="local", findings=[finding]))
    assert diagnosis[0].category is DiagnosisCategory.INFRASTRUCTURE
    assert not {d.category for d in diagnosis} & {DiagnosisCategory.API_KEY, DiagnosisCategory.CONTRACT_MISMATCH}
