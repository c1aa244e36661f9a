"""The metrics: the exact names of the issue, as Prometheus parses them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hokusai_contracts.watch.metrics import WatchMetrics
from hokusai_contracts.watch.rounds import RoundStatus, round_that_failed

from .rounds_fixtures import AUTH_DOWN, make_round


def samples(metrics: WatchMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics.render().decode()) for s in family.samples}


def test_a_failed_round_then_a_passing_one() -> None:
    metrics = WatchMetrics()
    metrics.update(make_round(RoundStatus.FAIL, [AUTH_DOWN, AUTH_DOWN.model_copy(update={"location": "status"})]))
    seen = samples(metrics)
    assert seen[("hokusai_contract_run_success", ())] == 0
    assert seen[("hokusai_contract_last_run_timestamp_seconds", ())] == 1_800_000_020.0
    assert seen[("hokusai_contract_run_duration_seconds", ())] == 20.0
    assert seen[("hokusai_contract_check_success", (("check", "verify-proxy"),))] == 0
    assert seen[("hokusai_contract_check_success", (("check", "scenario"),))] == 1
    assert seen[("hokusai_contract_active_causes", (("hop", "client->auth"), ("kind", "unreachable")))] == 2
    assert seen[("hokusai_contract_latency_seconds_count", (("target", "auth_validate"),))] == 2
    assert seen[("hokusai_contract_latency_seconds_bucket", (("le", "0.025"), ("target", "proxy_read")))] == 0

    metrics.update(make_round(RoundStatus.PASS, started_at=1_800_000_100.0))
    seen = samples(metrics)
    assert seen[("hokusai_contract_run_success", ())] == 1
    assert not any(name == "hokusai_contract_active_causes" for name, _ in seen)  # no cause open any more
    assert seen[("hokusai_contract_latency_seconds_count", (("target", "auth_validate"),))] == 4


def test_a_round_that_says_nothing_leaves_the_gauges() -> None:
    metrics = WatchMetrics()
    metrics.update(make_round(RoundStatus.PASS))
    metrics.update(round_that_failed(1.9e9, RoundStatus.INTERRUPTED, "SIGTERM"))
    assert samples(metrics)[("hokusai_contract_run_success", ())] == 1
    metrics.update(round_that_failed(1.9e9, RoundStatus.ERROR, "OSError: disk full"))
    assert samples(metrics)[("hokusai_contract_run_success", ())] == 0


def test_a_restart_shows_the_stored_round_without_counting_its_latencies_again() -> None:
    metrics = WatchMetrics()
    metrics.update(make_round(RoundStatus.PASS), observe=False)
    seen = samples(metrics)
    assert seen[("hokusai_contract_run_success", ())] == 1
    assert ("hokusai_contract_latency_seconds_count", (("target", "auth_validate"),)) not in seen
