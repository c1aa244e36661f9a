"""The faults suite's client-side logic, the proxy and its upstreams mocked at httpx's transport (respx).

What the fault controls send, which cases run when the proxy refuses the valid key, what the
baselines decide, and how each answer is judged. The real proxies' answers are the integration
tests' (tests/integration/test_proxy_faults.py, tests/incidents).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.fault_verdicts import judge_fault
from hokusai_contracts.checks.probes.faults import FAULTS, KEY_REFUSED, FaultCase, run_faults
from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.run.inputs import load_inputs
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import Part
from hokusai_contracts.stack.health import StackEndpoints
from tests.checks.probes.reproducible import assert_reproducible

KEY = "hk_live_" + "Fault1" * 5 + "ab"
PROXY = "http://proxy.test/api/mlflow"
SEARCH = PROXY + "/api/2.0/mlflow/experiments/search"
ENDPOINTS = StackEndpoints(mlflow_url="http://mlflow.test", auth_url="http://auth.test", proxy_root="http://proxy.test",
                           proxy_url=PROXY, api_key=KEY, admin_token="fake-admin-token", keys={},
                           service_id="platform", mlflow_journal_url="http://journal.test")
CASES = {case.name: case for case in FAULTS}
AUTH_CASES = [case for case in FAULTS if case.part == "auth"]
MLFLOW_SLOW = CASES["MLflow slower than the proxy's timeout"]
AUTH_SLOW = CASES["auth slower than the proxy's timeout"]
AUTH_500 = CASES["auth answers 500"]
EXPERIMENTS = {"experiments": [{"experiment_id": "0", "name": "Default", "lifecycle_stage": "active"}]}


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_inputs().proxy


class Upstreams:
    """The fake auth service's key administration and fault control, and the MLflow journal's, as respx routes."""

    def __init__(self, router: respx.MockRouter, proxy: Callable[[Upstreams, httpx.Request], httpx.Response]) -> None:
        self.auth_fault, self.mlflow_fault, self.serial = "none", "none", 0
        self.faults_set: list[tuple[str, str]] = []
        router.post("http://auth.test/api/v1/keys").mock(side_effect=self.new_key)
        router.post("http://auth.test/__fault__").mock(side_effect=self.set_auth)
        router.post("http://journal.test/__journal__/fault").mock(side_effect=self.set_mlflow)
        router.route(host="proxy.test").mock(side_effect=lambda request: proxy(self, request))

    def new_key(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer fake-admin-token"
        self.serial += 1
        return httpx.Response(201, json={"api_key": f"hk_live_{self.serial:032d}"})

    def set_auth(self, request: httpx.Request) -> httpx.Response:
        self.auth_fault = json.loads(request.content)["fault"]
        self.faults_set.append(("auth", self.auth_fault))
        return httpx.Response(200, json={})

    def set_mlflow(self, request: httpx.Request) -> httpx.Response:
        self.mlflow_fault = json.loads(request.content)["mode"]
        self.faults_set.append(("mlflow", self.mlflow_fault))
        return httpx.Response(200, json={})


def _error(status: int, code: str) -> httpx.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return httpx.Response(status, json={"error_code": code, "message": code.lower()}, headers=headers)


def refusing_outage_as_401(upstreams: Upstreams, request: httpx.Request) -> httpx.Response:
    """A proxy that refuses every key (a wrong service id) and answers auth outages 401 too."""
    return _error(401, "UNAUTHENTICATED")


def refusing_correctly(upstreams: Upstreams, request: httpx.Request) -> httpx.Response:
    """A proxy that refuses every key, and answers an auth outage 503 as documented."""
    if upstreams.auth_fault != "none":
        return _error(503, "SERVICE_UNAVAILABLE")
    return _error(401, "UNAUTHENTICATED")


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


class NoStack:
    """The cases here stop no part; one that did would fail the test."""

    def kill(self, part: Part) -> None:
        raise AssertionError(f"{part} stopped")


def _run(contract: Contract, cases: list[FaultCase], delay_s: float = 0.2, **kwargs: object) -> list:  # type: ignore[type-arg]
    """The cases' checks; ``delay_s`` is how long a slow part waits (a patient proxy below sleeps past it)."""
    result = run_faults(NoStack(), ENDPOINTS, delay_s, lambda line: None, cases, UpstreamTimeouts(),  # type: ignore[arg-type]
                        contract=contract, wait_s=5.0, **kwargs)  # type: ignore[arg-type]
    return result.checks


def test_auth_outages_answered_401_are_found_although_the_valid_key_is_refused(
        router: respx.MockRouter, contract: Contract) -> None:
    upstreams = Upstreams(router, refusing_outage_as_401)
    cases = [*[c for c in AUTH_CASES if c.breakage.__class__.__name__ == "AuthFault"], MLFLOW_SLOW]
    # This proxy answers at once: well before the slow auth's 30 s, however loaded the machine.
    checks = {c.name: c for c in _run(contract, cases, delay_s=30.0, mlflow_blocked=KEY_REFUSED)}
    # The MLflow case needs a key that gets through: a consequence, and it never touched MLflow.
    skipped = checks[MLFLOW_SLOW.name]
    assert skipped.status is CheckStatus.SKIPPED and skipped.message == f"skipped: {KEY_REFUSED}"
    assert ("mlflow", "slow") not in upstreams.faults_set
    for case in (AUTH_500, CASES["auth down (load balancer 503)"]):
        (finding,) = checks[case.name].findings
        assert (finding.kind, finding.location) == (FindingKind.AUTH_REJECTED, "status")
        assert finding.observed.startswith("401")
        assert finding.contract is not None and finding.contract.pointer.endswith("/get/responses/502")
        assert "$HOKUSAI_API_KEY" not in assert_reproducible(finding)  # a fresh probe key, not the run's
    # The slow auth answered 401 before its delay was over: the proxy gave up and called it a bad key.
    (finding,) = checks[AUTH_SLOW.name].findings
    assert finding.kind is FindingKind.AUTH_REJECTED and finding.contract is not None
    assert finding.contract.pointer.endswith("/responses/503")


def test_a_proxy_refusing_the_key_but_answering_outages_as_documented_has_no_finding(
        router: respx.MockRouter, contract: Contract) -> None:
    Upstreams(router, refusing_correctly)
    checks = _run(contract, [AUTH_500, CASES["auth down (load balancer 503)"]], mlflow_blocked=KEY_REFUSED)
    assert [(c.status, c.findings) for c in checks] == [(CheckStatus.PASSED, [])] * 2


def test_an_mlflow_case_whose_baseline_fails_is_skipped_with_the_answer(
        router: respx.MockRouter, contract: Contract) -> None:
    Upstreams(router, refusing_correctly)
    (check,) = _run(contract, [MLFLOW_SLOW])
    assert check.status is CheckStatus.SKIPPED and check.findings == []
    assert check.message == "baseline failed: without the fault the proxy answered 401"


def patient(body: Callable[[Upstreams], httpx.Response]) -> Callable[[Upstreams, httpx.Request], httpx.Response]:
    """A proxy with a timeout longer than the fault's delay: it waits out the slow part, then answers."""
    def answer(upstreams: Upstreams, request: httpx.Request) -> httpx.Response:
        if "slow" in (upstreams.auth_fault, upstreams.mlflow_fault):
            time.sleep(0.3)  # the fault's 0.2 s, and the upstream's answer
        return body(upstreams)
    return answer


@pytest.mark.parametrize("case", [MLFLOW_SLOW, AUTH_SLOW], ids=["mlflow", "auth"])
def test_a_late_correct_answer_from_a_slow_part_is_no_finding(router: respx.MockRouter, contract: Contract,
                                                              case: FaultCase) -> None:
    Upstreams(router, patient(lambda upstreams: httpx.Response(200, json=EXPERIMENTS)))
    (check,) = _run(contract, [case])
    assert check.findings == [] and check.status is CheckStatus.SKIPPED, check.message
    assert "timeout answer was not exercised" in check.message
    assert f"HOKUSAI_PROXY_TIMEOUTS={case.part}=SECONDS" in check.message


def test_a_late_answer_with_a_wrong_body_is_a_finding(router: respx.MockRouter, contract: Contract) -> None:
    Upstreams(router, patient(lambda upstreams: httpx.Response(200, json={"experiments": "none"})))
    (check,) = _run(contract, [MLFLOW_SLOW])
    assert check.findings and {f.kind for f in check.findings} == {FindingKind.RESPONSE_SCHEMA}
    assert_reproducible(check.findings[0])


def test_a_wrong_status_after_the_delay_is_still_a_finding(router: respx.MockRouter, contract: Contract) -> None:
    Upstreams(router, patient(lambda upstreams: _error(500, "INTERNAL_ERROR")
                              if upstreams.mlflow_fault == "slow" else httpx.Response(200, json=EXPERIMENTS)))
    (check,) = _run(contract, [MLFLOW_SLOW])
    (finding,) = check.findings
    assert (finding.kind, finding.location) == (FindingKind.SERVER_ERROR, "status")
    assert finding.contract is not None and finding.contract.pointer.endswith("/responses/504")


def test_a_proxy_that_never_answers_is_bounded_by_the_wait_setting(router: respx.MockRouter,
                                                                   contract: Contract) -> None:
    def hang(upstreams: Upstreams, request: httpx.Request) -> httpx.Response:
        if upstreams.mlflow_fault == "slow":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json=EXPERIMENTS)

    Upstreams(router, hang)
    (check,) = _run(contract, [MLFLOW_SLOW])
    (finding,) = check.findings
    assert (finding.kind, finding.location) == (FindingKind.TIMEOUT, "connection")
    assert "HOKUSAI_FAULT_WAIT_S=5" in finding.expected
    assert finding.contract is not None and finding.contract.pointer.endswith("/responses/504")
    assert_reproducible(finding)


def test_the_probe_waits_the_longest_delay_and_the_wait_setting(router: respx.MockRouter, contract: Contract) -> None:
    timeouts: list[float] = []

    def record(upstreams: Upstreams, request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json=EXPERIMENTS)

    Upstreams(router, record)
    run_faults(NoStack(), ENDPOINTS, 6.0, lambda line: None, [AUTH_500], UpstreamTimeouts.parse("mlflow=30"),  # type: ignore[arg-type]
               contract=contract, wait_s=4.0)
    # MLflow declared 30 s: its slow case waits 33 s, and any probe 4 s more before calling the proxy hung.
    assert timeouts and set(timeouts) == {37.0}


@pytest.mark.parametrize(
    ("status", "seconds", "baseline", "kind"),
    [
        (504, 0.1, 200, None),  # the documented answer
        (200, 0.1, 200, FindingKind.UNDOCUMENTED_STATUS),  # before the delay: not the upstream's answer
        (401, 0.1, 401, FindingKind.AUTH_REJECTED),  # a refused key's 401, but before the delay: the timeout's
        (401, 0.5, 401, None),  # after the delay: auth's own verdict on a refused key, passed on
        (401, 0.5, 200, FindingKind.AUTH_REJECTED),  # after the delay, but not what the call answers
    ],
)
def test_the_slow_auth_verdict(contract: Contract, status: int, seconds: float, baseline: int,
                               kind: FindingKind | None) -> None:
    def answered(code: int, after: float) -> ProbeResult:
        request = httpx.Request("GET", SEARCH)
        body = EXPERIMENTS if code == 200 else {"error_code": "X", "message": "x"}
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else {}
        return ProbeResult("GET", SEARCH, after, response=httpx.Response(code, json=body, headers=headers,
                                                                          request=request))

    verdict = judge_fault(AUTH_SLOW, answered(status, seconds), answered(baseline, 0.01), delay_s=0.4, wait_s=5,
                          contract=contract)
    assert [f.kind for f in verdict.findings] == ([kind] if kind else [])
