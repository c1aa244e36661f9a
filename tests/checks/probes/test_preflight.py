"""Preflight's judgement of each part's answer (respx stands in for the parts, at httpx's transport).

Each row makes one part misbehave the way an incident did (silence, a refusal, a 5xx, the proxy's
own 502/504 naming the upstream it could not reach) and expects the finding on the hop that failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from hokusai_contracts.checks.probes.preflight import run_preflight
from hokusai_contracts.domain.findings import Evidence, FindingKind
from hokusai_contracts.domain.hops import Hop

KEY = "hk_live_" + "Pre4" * 8
PROXY, AUTH, MLFLOW = "http://proxy.test/api/mlflow", "http://auth.test", "http://mlflow.test"
ROUTES = {
    "auth health": ("GET", AUTH + "/health"),
    "auth validate": ("POST", AUTH + "/api/v1/keys/validate"),
    "mlflow health": ("GET", MLFLOW + "/health"),
    "proxy health": ("GET", PROXY + "/health/mlflow"),
    "proxied read": ("GET", PROXY + "/api/2.0/mlflow/experiments/search"),
}
HEALTHY = {
    "auth health": httpx.Response(200, json={"status": "healthy"}),
    "auth validate": httpx.Response(200, json={"is_valid": True}),
    "mlflow health": httpx.Response(200, text="OK"),
    "proxy health": httpx.Response(200, json={"status": "healthy"}),
    "proxied read": httpx.Response(200, json={"experiments": []}),
}


@pytest.fixture
def parts() -> Iterator[dict[str, respx.Route]]:
    """Every part healthy; a test replaces one route's answer."""
    with respx.mock(assert_all_called=False) as router:
        yield {name: router.route(method=method, url=url).mock(return_value=HEALTHY[name])
               for name, (method, url) in ROUTES.items()}


def test_healthy_parts_pass_with_one_check_each_and_no_finding(parts: dict[str, respx.Route]) -> None:
    outcome = run_preflight(PROXY + "/", AUTH + "/", MLFLOW, KEY)  # trailing slashes: the same URLs
    assert outcome.healthy and outcome.findings == []
    assert [c.name for c in outcome.checks] == list(ROUTES)
    assert all(route.call_count == 1 for route in parts.values())
    assert all(c.message.startswith("200 in ") and c.evidence is None for c in outcome.checks)


def test_the_key_goes_to_the_validate_body_and_the_proxy_bearer_only(parts: dict[str, respx.Route]) -> None:
    run_preflight(PROXY, AUTH, MLFLOW, KEY)
    validate = parts["auth validate"].calls.last.request
    assert json.loads(validate.content) == {"api_key": KEY, "service_id": "platform"}
    read = parts["proxied read"].calls.last.request
    assert read.headers["Authorization"] == f"Bearer {KEY}" and read.url.params["max_results"] == "1"
    others = [parts[name].calls.last.request for name in ("auth health", "mlflow health", "proxy health")]
    assert all("authorization" not in r.headers for r in others)
    assert all(KEY not in str(route.calls.last.request.url) for route in parts.values())


def test_without_mlflow_url_mlflow_is_not_asked(parts: dict[str, respx.Route]) -> None:
    outcome = run_preflight(PROXY, AUTH, None, KEY)
    assert "mlflow health" not in [c.name for c in outcome.checks] and not parts["mlflow health"].called


@pytest.mark.parametrize(("part", "answer", "hop", "kind", "down"), [
    # Silence and refusals: the part is down.
    ("auth health", httpx.ConnectError("refused"), Hop.CLIENT_TO_AUTH, FindingKind.UNREACHABLE, True),
    ("auth validate", httpx.ReadTimeout("slow"), Hop.CLIENT_TO_AUTH, FindingKind.TIMEOUT, True),
    ("mlflow health", httpx.ConnectTimeout("silent"), Hop.CLIENT_TO_MLFLOW, FindingKind.TIMEOUT, True),
    # A 500 is an answer: the part is up, and broken.
    ("mlflow health", httpx.Response(500, text="boom"), Hop.CLIENT_TO_MLFLOW, FindingKind.SERVER_ERROR, False),
    # The proxy's own 502/504 names the upstream it could not reach: the finding goes to that hop.
    ("proxy health", httpx.Response(502, json={"mlflow": {"status": "unreachable"}, "auth": {"status": "healthy"}}),
     Hop.PROXY_TO_MLFLOW, FindingKind.UNREACHABLE, True),
    ("proxied read", httpx.Response(504, text="auth service timed out"), Hop.PROXY_TO_AUTH, FindingKind.TIMEOUT,
     True),
    ("proxied read", httpx.Response(503, text="MLflow is down"), Hop.PROXY_TO_MLFLOW, FindingKind.UNREACHABLE, True),
    # A proxy 5xx naming nobody, or a 500 (not a gateway status), stays the proxy's.
    ("proxy health", httpx.Response(503, text="maintenance"), Hop.CLIENT_TO_PROXY, FindingKind.SERVER_ERROR, True),
    ("proxied read", httpx.Response(500, text="auth lookup crashed"), Hop.CLIENT_TO_PROXY,
     FindingKind.SERVER_ERROR, False),
])
def test_a_sick_part_is_one_finding_on_the_hop_that_failed(parts: dict[str, respx.Route], part: str,
                                                            answer: httpx.Response | Exception, hop: Hop,
                                                            kind: FindingKind, down: bool) -> None:
    if isinstance(answer, Exception):
        parts[part].mock(side_effect=answer)
    else:
        parts[part].mock(return_value=answer)
    outcome = run_preflight(PROXY, AUTH, MLFLOW, KEY)
    assert not outcome.healthy
    (finding,) = outcome.findings
    assert (finding.hop, finding.kind) == (hop, kind)
    assert finding.location == ("connection" if isinstance(answer, Exception) else "status")
    (check,) = [c for c in outcome.checks if c.findings]
    assert check.name == part and finding.observed in check.message
    assert check.evidence is (Evidence.INFRASTRUCTURE_DOWN if down else None)
    assert finding.exchanges and finding.exchanges[0].method == ROUTES[part][0]


def test_an_answer_after_the_slow_limit_is_a_timeout(parts: dict[str, respx.Route]) -> None:
    def late(request: httpx.Request) -> httpx.Response:
        time.sleep(1.5)
        return httpx.Response(200, text="OK")

    parts["mlflow health"].mock(side_effect=late)
    with httpx.Client() as client:  # one client: no connection set-up counts against the others
        outcome = run_preflight(PROXY, AUTH, MLFLOW, KEY, slow_after_s=1.0, client=client)
    (finding,) = outcome.findings
    assert (finding.hop, finding.kind, finding.location) == (Hop.CLIENT_TO_MLFLOW, FindingKind.TIMEOUT, "status")
    assert finding.observed.startswith("no answer within ")


def test_a_given_client_is_the_one_asked(parts: dict[str, respx.Route]) -> None:
    seen: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [seen.append]}) as client:
        run_preflight(PROXY, AUTH, MLFLOW, KEY, client=client)
    assert [(r.method, str(r.url).split("?")[0]) for r in seen] == list(ROUTES.values())
