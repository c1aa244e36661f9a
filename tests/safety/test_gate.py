"""The gate and the two ways through it: the tool's httpx transport and the loopback egress."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.safety.egress import GUARD_STATUS, running_egress
from hokusai_contracts.safety.gate import BudgetExhausted, Gate, Refused
from hokusai_contracts.safety.policy import OutgoingRequest, SafetyPolicy, Target
from hokusai_contracts.safety.transport import GatedTransport
from hokusai_contracts.stack.definition import project_root

KEY = "hk_live_" + "Canary1" * 4 + "abcd"
ROOT = project_root()
BASES = {Target.PROXY: "https://registry.example/api/mlflow", Target.ORIGIN: "https://registry.example",
         Target.MLFLOW: "https://registry.example/mlflow", Target.AUTH: "https://auth.example"}


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    policy = SafetyPolicy(KEY, Contract.load(ROOT / "contracts" / "auth-service.yaml", root=ROOT),
                          Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT))
    return Gate(policy, BASES, rate_limit=1000.0, budget=5, log_path=tmp_path / "traffic.jsonl")


def _read(target: Target = Target.PROXY) -> OutgoingRequest:
    return OutgoingRequest(target=target, method="GET", path="/api/2.0/mlflow/experiments/search")


def test_longest_base_wins(gate: Gate) -> None:
    assert gate.locate("https://registry.example/api/mlflow/api/2.0/x?y=1") == (Target.PROXY, "/api/2.0/x")
    assert gate.locate("https://registry.example/mlflow/health") == (Target.MLFLOW, "/health")
    assert gate.locate("https://registry.example/api/2.0/mlflow/health/mlflow")[0] is Target.ORIGIN  # type: ignore[index]
    assert gate.locate("https://registry.example.evil/api/mlflow") is None
    assert gate.locate("https://elsewhere.example/") is None


def test_rate_limit_spaces_requests_evenly(gate: Gate) -> None:
    gate.rate_limit, gate.budget = 4.0, 100
    delays = [gate.admit(_read()) for _ in range(5)]
    # Each admitted request waits for its own slot: 1/rate apart, the first at once.
    assert delays[0] == pytest.approx(0.0, abs=0.05)
    gaps = [later - earlier for earlier, later in zip(delays, delays[1:], strict=False)]
    assert gaps == pytest.approx([0.25] * 4, abs=0.05)
    assert gate.waited_s == pytest.approx(sum(delays))


def test_budget_stops_sending_and_is_logged(gate: Gate, tmp_path: Path) -> None:
    for _ in range(5):
        gate.admit(_read())
    with pytest.raises(BudgetExhausted, match="HOKUSAI_REQUEST_BUDGET"):
        gate.admit(_read())
    assert gate.sent == 5 and gate.exhausted
    lines = [json.loads(line) for line in (tmp_path / "traffic.jsonl").read_text().splitlines()]
    assert lines[-1]["refused"].startswith("the request budget of 5")


def test_policy_refusal_takes_no_budget(gate: Gate) -> None:
    unsafe = OutgoingRequest(target=Target.AUTH, method="POST", path="/api/v1/keys", body=b"{}")
    with pytest.raises(Refused) as caught:
        gate.admit(unsafe)
    assert not isinstance(caught.value, BudgetExhausted)
    assert gate.sent == 0 and [r.budget for r in gate.refusals] == [False]


def test_transport_passes_answers_and_never_sends_refused_requests(gate: Gate, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"experiments": []})

    client = httpx.Client(transport=GatedTransport(gate, inner=httpx.MockTransport(upstream)))
    answer = client.get(BASES[Target.PROXY] + "/api/2.0/mlflow/experiments/search",
                        headers={"Authorization": f"Bearer {KEY}"})
    assert answer.json() == {"experiments": []}
    assert isinstance(answer.extensions["hokusai_upstream_s"], float)
    with pytest.raises(Refused, match="proxy and the auth service only"):
        client.get(BASES[Target.MLFLOW] + "/health", headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(Refused, match="none of the configured hosts"):
        client.get("https://elsewhere.example/")
    assert len(seen) == 1
    log = (tmp_path / "traffic.jsonl").read_text()
    assert KEY not in log and '"status": 200' in log


def test_transport_errors_stay_transport_errors(gate: Gate) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(transport=GatedTransport(gate, inner=httpx.MockTransport(refuse)))
    with pytest.raises(httpx.ConnectError):
        client.get(BASES[Target.AUTH] + "/health")


def test_egress_forwards_to_the_real_base_and_answers_599_for_refusals(gate: Gate) -> None:
    seen: list[str] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path.endswith("/down"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"ok": True}, headers={"X-Upstream": "yes"})

    with running_egress(gate, True, 5.0, transport=httpx.MockTransport(upstream)) as egress:
        base = egress.base(Target.PROXY)
        ok = httpx.get(base + "/api/2.0/mlflow/experiments/search?max_results=1",
                       headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.headers["x-upstream"] == "yes"
        assert seen == ["https://registry.example/api/mlflow/api/2.0/mlflow/experiments/search?max_results=1"]
        refused = httpx.post(egress.base(Target.AUTH) + "/api/v1/keys", json={"service_id": "platform"})
        assert refused.status_code == GUARD_STATUS and refused.json()["error_code"] == "LIVE_POLICY_REFUSED"
        down = httpx.get(egress.base(Target.MLFLOW) + "/down")
        assert down.status_code == 502 and down.json()["error_code"] == "EGRESS_UPSTREAM_UNREACHABLE"
        for _ in range(3):
            httpx.get(egress.base(Target.MLFLOW) + "/health")
        spent = httpx.get(egress.base(Target.MLFLOW) + "/health")
        assert spent.status_code == GUARD_STATUS and spent.json()["error_code"] == "REQUEST_BUDGET_EXHAUSTED"
        assert egress.real_urls()[base] == BASES[Target.PROXY]
    assert len(seen) == 5


def test_egress_passes_paths_starlette_routes_would_not_match(gate: Gate) -> None:
    seen: list[str] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST"})

    with running_egress(gate, True, 5.0, transport=httpx.MockTransport(upstream)) as egress:
        answer = httpx.get(egress.base(Target.MLFLOW) + "/api/2.0/mlflow/logged-models/%0A%C3%B6")
    assert answer.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST"}
    assert seen == ["/mlflow/api/2.0/mlflow/logged-models/%0A%C3%B6"]


def test_a_key_in_a_url_is_refused_as_a_live_safety_failure(gate: Gate, tmp_path: Path) -> None:
    from hokusai_contracts.report.model import CheckStatus
    from hokusai_contracts.run.live import _gate_record

    seen: list[httpx.Request] = []
    client = httpx.Client(transport=GatedTransport(gate, inner=httpx.MockTransport(
        lambda request: seen.append(request) or httpx.Response(200, json={}))))
    for url in (BASES[Target.PROXY] + f"/api/2.0/mlflow/experiments/search?api_key={KEY}",
                BASES[Target.PROXY] + f"/api/2.0/mlflow/registered-models/get?name=%{ord(KEY[0]):x}{KEY[1:]}",
                BASES[Target.AUTH] + f"/api/v1/keys/{KEY}"):
        with pytest.raises(Refused, match="secret of the run in its URL"):
            client.get(url, headers={"Authorization": f"Bearer {KEY}"})
    assert seen == [] and gate.sent == 0
    result = _gate_record(gate)
    (safety,) = [c for c in result.checks if c.suite == "live-safety"]
    assert safety.status is CheckStatus.FAILED and safety.cases == 3
    assert KEY not in safety.message
    assert KEY not in (tmp_path / "traffic.jsonl").read_text()


def test_egress_refuses_a_key_in_a_url(gate: Gate) -> None:
    seen: list[str] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    with running_egress(gate, True, 5.0, transport=httpx.MockTransport(upstream)) as egress:
        refused = httpx.get(egress.base(Target.PROXY) + f"/api/2.0/mlflow/experiments/get?experiment_id={KEY}")
    assert refused.status_code == GUARD_STATUS and refused.json()["error_code"] == "LIVE_POLICY_REFUSED"
    assert KEY not in refused.text and seen == []


def test_the_listener_is_told_each_exchange_as_one_record_at_its_real_url(gate: Gate) -> None:
    heard: list[HttpExchange] = []
    gate.listener = heard.append

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, json={"experiments": []})

    with httpx.Client(transport=GatedTransport(gate, inner=httpx.MockTransport(upstream))) as client:
        client.post("https://registry.example/api/mlflow/api/2.0/mlflow/experiments/search?max_results=1",
                    json={"filter": "x"})
    (exchange,) = heard
    assert exchange.hop is Hop.CLIENT_TO_PROXY and exchange.method == "POST"
    assert exchange.url == "https://registry.example/api/mlflow/api/2.0/mlflow/experiments/search?max_results=1"
    assert exchange.query == (("max_results", "1"),) and exchange.status == 200
    assert exchange.request_body.text == '{"filter":"x"}' and exchange.request_body.size == 14
    assert exchange.response_body.text == '{"experiments":[]}' and exchange.elapsed_ms is not None
