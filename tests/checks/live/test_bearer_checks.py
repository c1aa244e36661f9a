"""``bearer-auth``'s judgement of the proxy's answers, one way of sending a key per row (respx at the transport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx

from hokusai_contracts.checks.live.bearer_checks import run_bearer_checks
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.domain.findings import Evidence, FindingKind
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check

from .targets import KEY, PROXY

READ = PROXY + "/api/2.0/mlflow/experiments/search"
OK = httpx.Response(200, json={"experiments": []})
REFUSED = httpx.Response(401, json={"error_code": "UNAUTHENTICATED", "message": "no"},
                         headers={"WWW-Authenticate": 'Bearer realm="hokusai"'})
#: What each check sends, told apart by what the proxy receives.
WAYS: dict[str, Callable[[httpx.Request], bool]] = {
    "Bearer key accepted": lambda r: r.headers.get("authorization") == f"Bearer {KEY}",
    "missing key": lambda r: "authorization" not in r.headers and "x-api-key" not in r.headers
    and "api_key" not in r.url.params,
    "malformed key": lambda r: r.headers.get("authorization") == "Bearer not-a-hokusai-key",
    "unknown key": lambda r: r.headers.get("authorization", "").startswith("Bearer hk_live_")
    and r.headers["authorization"] != f"Bearer {KEY}",
    "key in X-API-Key": lambda r: r.headers.get("x-api-key") == KEY,
    "key in a query parameter": lambda r: "api_key" in r.url.params,
}


def _proxy(router: respx.MockRouter, answers: dict[str, httpx.Response | Exception]) -> None:
    """A proxy answering each way of sending a key as ``answers`` says; 200 to the key, 401 to the rest."""
    def answer(request: httpx.Request) -> httpx.Response:
        (way,) = [name for name, sent in WAYS.items() if sent(request)]
        given = answers.get(way, OK if way == "Bearer key accepted" else REFUSED)
        if isinstance(given, Exception):
            raise given
        return given

    router.get(READ).mock(side_effect=answer)


def _checks(probes: LiveProbes) -> dict[str, Check]:
    return {c.name: c for c in probes.take().checks}


def test_a_proxy_taking_only_the_bearer_key_passes_every_check(router: respx.MockRouter, probes: LiveProbes) -> None:
    _proxy(router, {})
    run_bearer_checks(probes)
    assert probes.facts.key_accepted is True
    checks = _checks(probes)
    assert list(checks) == list(WAYS)  # every way asked, the key first
    assert {c.status for c in checks.values()} == {CheckStatus.PASSED}
    assert checks["key in a query parameter"].message.endswith("(decoy refused)")


@pytest.mark.parametrize(("answer", "accepted", "status"), [
    (OK, True, CheckStatus.PASSED),
    (REFUSED, False, CheckStatus.FAILED),
    (httpx.Response(403, json={"error_code": "PERMISSION_DENIED", "message": "no"}), False, CheckStatus.FAILED),
    # The proxy could not say: neither accepted nor refused, for the checks that read the fact.
    (httpx.Response(503, json={"error_code": "SERVICE_UNAVAILABLE", "message": "down"}), None, CheckStatus.FAILED),
    (httpx.ConnectError("refused"), None, CheckStatus.FAILED),
])
def test_the_bearer_keys_answer_is_the_fact_later_checks_read(router: respx.MockRouter, probes: LiveProbes,
                                                              answer: httpx.Response | Exception,
                                                              accepted: bool | None, status: CheckStatus) -> None:
    _proxy(router, {"Bearer key accepted": answer})
    run_bearer_checks(probes)
    assert probes.facts.key_accepted is accepted
    assert _checks(probes)["Bearer key accepted"].status is status


@pytest.mark.parametrize(("let_in", "location"), [
    ("missing key", "header.Authorization"),
    ("malformed key", "header.Authorization"),
    ("unknown key", "header.Authorization"),
    ("key in a query parameter", "query.api_key"),
    # The real key in another header is the right key: letting it in checks keys, so no failure.
    ("key in X-API-Key", None),
])
def test_a_proxy_letting_in_a_wrong_way_fails_that_check_alone(router: respx.MockRouter, probes: LiveProbes,
                                                                let_in: str, location: str | None) -> None:
    _proxy(router, {let_in: OK})
    run_bearer_checks(probes)
    checks = _checks(probes)
    failed = {name for name, check in checks.items() if check.status is CheckStatus.FAILED}
    ignored = [f for f in checks[let_in].findings if f.kind is FindingKind.IGNORED_AUTH]
    if location is None:
        assert failed == set() and ignored == [] and checks[let_in].message.endswith("(let in)")
    else:
        assert failed == {let_in}
        (finding,) = ignored
        assert finding.location == location and finding.contract is not None


def test_a_5xx_to_a_wrong_way_fails_the_check_without_calling_it_ignored_auth(router: respx.MockRouter,
                                                                              probes: LiveProbes) -> None:
    _proxy(router, {"malformed key": httpx.Response(500, text="crashed on the key")})
    run_bearer_checks(probes)
    check = _checks(probes)["malformed key"]
    assert check.status is CheckStatus.FAILED and check.message.endswith("(refused)")
    assert all(f.kind is not FindingKind.IGNORED_AUTH for f in check.findings)


@pytest.mark.parametrize(("valid_for", "evidence"), [
    (["platform"], True),  # the auth service takes the key for the proxy's service: the proxy is wrong
    (["platform", "website"], True),
    (["website"], False),  # another service's key: the auth checks say so, not the proxy's fault
    ([], False),
    (None, False),  # the auth service did not answer: no evidence either way
])
def test_a_refused_key_is_the_proxys_fault_only_when_auth_takes_it_for_platform(
        router: respx.MockRouter, probes: LiveProbes, valid_for: list[str] | None, evidence: bool) -> None:
    _proxy(router, {"Bearer key accepted": REFUSED})
    probes.facts.valid_for = valid_for
    run_bearer_checks(probes)
    rejected = [f for f in _checks(probes)["Bearer key accepted"].findings if f.kind is FindingKind.AUTH_REJECTED]
    assert [f.evidence for f in rejected] == ([Evidence.PROXY_REFUSES_VALID_KEY] if evidence else [])
