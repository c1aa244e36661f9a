"""Precision on proxies that are not the reference one (issue 12), each run through ``PROXY_CMD``.

Two stacks, shared by the tests that need them, and only the phases a test needs (faults, the
credential probes, the proxy->MLflow journal), so that all of this costs about a minute:

- a correct proxy with 30 s upstream timeouts of its own that checks scopes: no finding, whether
  or not the run is told of its timeouts (a correct answer after a slow upstream is never a defect,
  issue 23), and the run does not wait for its 30 s when it was not told;
- a proxy that forwards ``X-API-Key`` and ``?api_key=`` to MLflow, answers 400 to a request without
  a key and every 401 as text/plain: each named where it happens.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hokusai_contracts.checks.probes.credentials import run_credential_probes
from hokusai_contracts.checks.probes.faults import FAULTS, run_faults
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.run.inputs import Inputs, load_inputs
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).parent
BROKEN = f"{sys.executable} {HERE / 'broken_proxy.py'}"
ARGS = "--port {port} --auth-url {auth_url} --mlflow-url {mlflow_url}"
SLOW_MLFLOW = next(case for case in FAULTS if case.name == "MLflow slower than the proxy's timeout")
SLOW_AUTH = next(case for case in FAULTS if case.name == "auth slower than the proxy's timeout")
AUTH_500 = next(case for case in FAULTS if case.name == "auth answers 500")


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return load_inputs()


def _stack(proxy_cmd: str) -> Iterator[ProcessStack]:
    # The stack's own PROXY_MLFLOW_TIMEOUT_S is 3 s; the proxies here may override it in their command.
    with running_stack(StackDefinition(), proxy_cmd) as running:
        yield running


@pytest.fixture(scope="module")
def patient_stack() -> Iterator[ProcessStack]:
    """A correct proxy that waits 30 s for MLflow and auth (its own settings) and refuses keys without scopes."""
    yield from _stack(f"env PROXY_MLFLOW_TIMEOUT_S=30 PROXY_AUTH_TIMEOUT_S=30 {BROKEN} check-scopes {ARGS}")


@pytest.fixture(scope="module")
def leaky_stack() -> Iterator[ProcessStack]:
    yield from _stack(f"{BROKEN} forward-x-api-key,forward-query-key,400-without-key,401-text-plain {ARGS}")


@pytest.fixture(scope="module")
def leaky_findings(leaky_stack: ProcessStack, inputs: Inputs) -> list[Finding]:
    endpoints = leaky_stack.endpoints
    assert endpoints is not None and endpoints.mlflow_journal is not None
    probed = run_credential_probes(endpoints, inputs.proxy)
    found = [f for check in probed.checks for f in check.findings]
    return found + judge_journal(read_journal(endpoints.mlflow_journal), inputs.mlflow, Hop.PROXY_TO_MLFLOW,
                                 forbid_credentials=True)


def test_a_proxy_waiting_30s_for_mlflow_is_not_faulted_for_answering_within_it(patient_stack: ProcessStack,
                                                                              inputs: Inputs) -> None:
    assert patient_stack.endpoints is not None
    # HOKUSAI_PROXY_TIMEOUTS=mlflow=30: the proxy's own timeout, which the stack does not know.
    result = run_faults(patient_stack, patient_stack.endpoints, 6.0, cases=[SLOW_MLFLOW],
                        timeouts=UpstreamTimeouts.parse("mlflow=30"), out=lambda line: None, contract=inputs.proxy)
    (check,) = result.checks
    assert check.status is CheckStatus.PASSED and check.findings == [], check.message
    assert "504" in check.message  # the proxy's own timeout expired: the fault was slower than it


def test_a_proxy_waiting_30s_answers_a_slow_upstream_correctly_and_the_run_does_not_wait_for_it(
        patient_stack: ProcessStack, inputs: Inputs) -> None:
    """Undeclared (no HOKUSAI_PROXY_TIMEOUTS): the run assumes the stack's timeouts, and its slow parts answer first."""
    assert patient_stack.endpoints is not None
    assumed = UpstreamTimeouts.from_env(StackDefinition().proxy_env)  # what a run assumes, undeclared
    result = run_faults(patient_stack, patient_stack.endpoints, 6.0, cases=[SLOW_MLFLOW, SLOW_AUTH], timeouts=assumed,
                        out=lambda line: None, contract=inputs.proxy)
    for check in result.checks:
        assert check.findings == [] and check.status is CheckStatus.SKIPPED, check.message
        assert check.message.startswith("proxy answered 200") and "timeout answer was not exercised" in check.message
        # The slow part's delay (a few seconds), not the proxy's 30 s: nothing waited for its timeout.
        assert check.seconds < 30, check.seconds


def test_a_proxy_checking_scopes_is_tested_with_keys_that_have_them(patient_stack: ProcessStack,
                                                                     inputs: Inputs) -> None:
    endpoints = patient_stack.endpoints
    assert endpoints is not None
    result = run_faults(patient_stack, endpoints, 6.0, cases=[AUTH_500], out=lambda line: None,
                        contract=inputs.proxy)
    (check,) = result.checks
    # Scored, not skipped: the fault's key has the scopes of a platform key, so the baseline passes.
    assert check.status is CheckStatus.PASSED and check.findings == [], check.message
    probed = run_credential_probes(endpoints, inputs.proxy)
    assert [f for c in probed.checks for f in c.findings] == []


def test_a_proxy_forwarding_x_api_key_leaks_it_to_mlflow(leaky_findings: list[Finding]) -> None:
    leaks = {(f.hop, f.location.lower()) for f in leaky_findings if f.kind == "credential_leak"}
    assert (Hop.PROXY_TO_MLFLOW, "header.x-api-key") in leaks


def test_a_proxy_forwarding_the_query_key_leaks_it_to_mlflow(leaky_findings: list[Finding]) -> None:
    leaks = {(f.hop, f.location) for f in leaky_findings if f.kind == "credential_leak"}
    assert (Hop.PROXY_TO_MLFLOW, "query.api_key") in leaks


def test_a_proxy_answering_400_without_a_key_is_named_on_the_status(leaky_findings: list[Finding]) -> None:
    statuses = [f for f in leaky_findings if f.hop is Hop.CLIENT_TO_PROXY and f.location == "status"
                and f.kind == "undocumented_status"]
    assert statuses, leaky_findings
    assert all(f.observed.startswith("400") and "401" in f.expected for f in statuses)
    assert {f.operation for f in statuses} == {"GET /api/2.0/mlflow/experiments/search",
                                              "POST /api/2.0/mlflow/experiments/create",
                                              "GET /api/2.0/mlflow-artifacts/artifacts"}


def test_a_proxy_answering_401_as_text_is_named_on_the_content_type(leaky_findings: list[Finding]) -> None:
    assert any(f.hop is Hop.CLIENT_TO_PROXY and f.kind == "content_type" for f in leaky_findings), leaky_findings
