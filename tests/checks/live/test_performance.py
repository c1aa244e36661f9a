"""Percentiles over a handful of samples, and the baseline comparison."""

from __future__ import annotations

import json
from pathlib import Path

from hokusai_contracts.checks.live.performance import (
    Latency,
    Performance,
    compare_with_baseline,
    percentile,
    write_performance,
)
from hokusai_contracts.report.model import CheckStatus


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    samples = [10.0, 50.0, 20.0, 40.0, 30.0]
    assert percentile(samples, 50) == 30.0
    assert percentile(samples, 95) == 50.0


def _perf(validate: list[float], through: list[float], direct: list[float]) -> Performance:
    return Performance(auth_validate=Latency(samples_ms=validate), proxy_read=Latency(samples_ms=through),
                       direct_read=Latency(samples_ms=direct))


def test_proxy_overhead_is_the_difference_of_medians() -> None:
    assert _perf([1.0], [30.0, 32.0, 31.0], [10.0, 11.0, 12.0]).proxy_overhead_ms() == 20.0
    assert _perf([1.0], [30.0], []).proxy_overhead_ms() is None


def test_baseline_round_trip_and_regression(tmp_path: Path) -> None:
    before = _perf([10.0, 12.0], [30.0, 40.0], [20.0, 22.0])
    baseline = write_performance(before, tmp_path)
    assert json.loads(baseline.read_text())["summary"]["proxy_overhead_p50_ms"] == 10.0
    same = compare_with_baseline(before, baseline, tolerance=0.5)
    assert same.status is CheckStatus.PASSED and "baseline" in same.message
    slower = compare_with_baseline(_perf([10.0, 40.0], [30.0, 40.0], [20.0, 22.0]), baseline, tolerance=0.5)
    assert slower.status is CheckStatus.FAILED and "auth_validate p95 40 ms > 12 ms" in slower.message


def test_without_baseline_or_with_a_bad_one(tmp_path: Path) -> None:
    perf = _perf([1.0], [2.0], [1.0])
    assert compare_with_baseline(perf, None, 0.5).status is CheckStatus.SKIPPED
    broken = tmp_path / "performance.json"
    broken.write_text("not json")
    assert compare_with_baseline(perf, broken, 0.5).status is CheckStatus.ERROR
