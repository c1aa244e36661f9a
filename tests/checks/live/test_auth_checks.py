"""``auth-service``'s reading of the validate answers: which services a key is valid for (respx at the transport)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from hokusai_contracts.checks.live.auth_checks import run_auth_checks
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.domain.findings import Evidence, FindingKind
from hokusai_contracts.report.model import CheckStatus

from .targets import AUTH, KEY

VALIDATE = AUTH + "/api/v1/keys/validate"
REFUSED = httpx.Response(401, json={"detail": "Invalid or expired API key"})


def _valid(service_id: str) -> httpx.Response:
    return httpx.Response(200, json={"is_valid": True, "key_id": "k", "user_id": "u", "service_id": service_id})


def _auth(router: respx.MockRouter, by_service: dict[str, httpx.Response | Exception],
          in_header: httpx.Response = REFUSED) -> respx.Route:
    """The key in the body answered per service id (401 where not given); the key in a header ``in_header``."""
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "api_key" not in body:
            return in_header
        given = by_service.get(body["service_id"], REFUSED)
        if isinstance(given, Exception):
            raise given
        return given

    return router.post(VALIDATE).mock(side_effect=answer)


def test_the_proxys_service_is_asked_first_then_every_service_the_contract_knows(router: respx.MockRouter,
                                                                                 probes: LiveProbes) -> None:
    route = _auth(router, {"platform": _valid("platform")})
    run_auth_checks(probes)
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies[:3] == [{"api_key": KEY, "service_id": s} for s in ("platform", "website", "prediction")]
    # Then the key in a header instead of the body: the body names the service and holds no key.
    assert bodies[3:] == [{"service_id": "platform"}] * 2
    assert [c.request.headers.get("authorization") for c in route.calls[3:]] == [f"Bearer {KEY}", None]
    assert route.calls[4].request.headers["x-api-key"] == KEY
    assert all(KEY not in str(call.request.url) for call in route.calls)


@pytest.mark.parametrize(("platform_answer", "valid_for"), [
    (_valid("platform"), ["platform"]),
    (httpx.Response(200, json={"is_valid": False}), []),  # 200 is not enough: is_valid must be true
    (httpx.Response(200, json={"is_valid": "true"}), []),  # nor truthy
    (httpx.Response(200, json=[{"is_valid": True}]), []),
    (httpx.Response(200, text="OK"), []),  # not JSON
    (httpx.Response(401, json={"is_valid": True}), []),  # a refusal whatever its body says
])
def test_a_key_is_valid_only_for_a_200_saying_is_valid_true(router: respx.MockRouter, probes: LiveProbes,
                                                            platform_answer: httpx.Response,
                                                            valid_for: list[str]) -> None:
    _auth(router, {"platform": platform_answer})
    run_auth_checks(probes)
    assert probes.facts.valid_for == valid_for


@pytest.mark.parametrize("down", [httpx.Response(503, json={"detail": "down"}), httpx.ConnectError("refused")])
def test_an_auth_service_that_does_not_answer_learns_nothing_and_blames_no_key(
        router: respx.MockRouter, probes: LiveProbes, down: httpx.Response | Exception) -> None:
    _auth(router, dict.fromkeys(("platform", "website", "prediction"), down))
    run_auth_checks(probes)
    result = probes.take()
    assert probes.facts.valid_for is None
    assert [f for f in result.findings if f.kind is FindingKind.AUTH_REJECTED] == []
    assert {c.status for c in result.checks if "in body" in c.name} == {CheckStatus.FAILED}


def test_one_service_answering_is_enough_to_judge_the_key(router: respx.MockRouter, probes: LiveProbes) -> None:
    _auth(router, {"platform": httpx.Response(503, json={"detail": "down"}), "website": _valid("website")})
    run_auth_checks(probes)
    assert probes.facts.valid_for == ["website"]
    (refused,) = probes.take().findings
    assert refused.kind is FindingKind.AUTH_REJECTED and refused.evidence is Evidence.KEY_REFUSED_BY_AUTH
    assert "valid for website" in refused.observed and refused.contract is not None


@pytest.mark.parametrize(("in_header", "status", "says"), [
    (REFUSED, CheckStatus.PASSED, "refused, as the contract says"),
    (httpx.Response(422, json={"detail": [{"msg": "api_key required"}]}), CheckStatus.PASSED, "refused"),
    (_valid("platform"), CheckStatus.FAILED, "accepted, although the contract wants the key in the body"),
    (httpx.Response(500, text="crashed"), CheckStatus.FAILED, "refused"),
])
def test_the_key_in_a_header_must_be_refused_without_a_5xx(router: respx.MockRouter, probes: LiveProbes,
                                                           in_header: httpx.Response, status: CheckStatus,
                                                           says: str) -> None:
    _auth(router, {"platform": _valid("platform")}, in_header=in_header)
    run_auth_checks(probes)
    checks = {c.name: c for c in probes.take().checks}
    for name in ("key in Authorization: Bearer header instead of the body", "key in X-API-Key header instead of "
                                                                             "the body"):
        assert checks[name].status is status and says in checks[name].message
