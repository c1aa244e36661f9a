"""The watch's round bookkeeping: the hourly budget, what an interrupted round sent, pruning what it wrote."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hokusai_contracts.run import watch as watch_module
from hokusai_contracts.run.watch import IN_FLIGHT, WatchOptions, _sent, _Watch
from hokusai_contracts.settings import LiveSettings
from hokusai_contracts.watch.history import History
from hokusai_contracts.watch.metrics import WatchMetrics
from hokusai_contracts.watch.rounds import RoundStatus

from ..watch.rounds_fixtures import make_round

KEY = "hk_test_" + "B" * 32


def _watch(tmp_path: Path, per_hour: int) -> tuple[_Watch, History, list[str]]:
    lines: list[str] = []
    options = WatchOptions(every_s=60, state=tmp_path / "w.sqlite", report_dir=tmp_path / "reports",
                           requests_per_hour=per_hour)
    watch = _Watch(LiveSettings(api_key=KEY, request_budget=500), options, WatchMetrics(), lines.append)
    history = History.open(options.state)
    watch.history = history
    return watch, history, lines


def test_a_round_waits_when_the_hour_has_too_little_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch, history, lines = _watch(tmp_path, per_hour=1000)
    history.add(make_round(started_at=time.time() - 600, seconds=20, requests=980))
    monkeypatch.setattr(watch_module, "run_live", lambda *a, **k: pytest.fail("no round may start"))
    latest = watch.round(history)
    assert latest.status is RoundStatus.SKIPPED and latest.success is None
    assert latest.reason == "20 requests left of the hour's 1000 (HOKUSAI_WATCH_REQUESTS_PER_HOUR)"
    assert lines[0].startswith("Round 2: SKIPPED")


def test_a_round_gets_what_the_hour_left_at_most_the_request_budget(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    watch, history, _ = _watch(tmp_path, per_hour=1000)
    history.add(make_round(started_at=time.time() - 600, seconds=20, requests=900))
    history.add(make_round(started_at=time.time() - 7200, seconds=20, requests=900))  # over an hour ago
    budgets: list[int] = []

    def live(settings: LiveSettings, options: object, out: object) -> None:
        budgets.append(settings.request_budget)
        raise OSError("no route to host")

    monkeypatch.setattr(watch_module, "run_live", live)
    latest = watch.round(history)
    assert budgets == [100]
    assert latest.status is RoundStatus.ERROR and latest.reason == "OSError: no route to host"
    assert [c.kind for c in latest.causes] == ["round_failed"]


def test_an_interrupted_round_counts_what_its_gate_logged(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "live-traffic.jsonl").write_text(
        '{"t": 1, "target": "auth", "method": "GET", "path": "/health", "status": 200, "ms": 3}\n' * 30
        + '{"t": 2, "target": "auth", "method": "POST", "path": "/x", "refused": "not x-live-safe"}\n')
    assert _sent(tmp_path, 500) == 30 + IN_FLIGHT
    assert _sent(tmp_path, 35) == 35
    assert _sent(tmp_path / "nowhere", 500) == 0  # ended before its gate made the log: nothing sent
    (logs / "live-traffic.jsonl").chmod(0o000)
    if os.geteuid() != 0:
        assert _sent(tmp_path, 500) == 500


def test_pruning_removes_only_the_watchs_own_round_folders(tmp_path: Path) -> None:
    watch, history, _ = _watch(tmp_path, per_hour=1000)
    own = tmp_path / "reports" / "watch" / "20200101T000000Z-abcd"
    own.mkdir(parents=True)
    elsewhere = tmp_path / "precious"
    elsewhere.mkdir()
    for folder in (own, elsewhere):
        history.add(make_round(started_at=1000.0).model_copy(update={"report_path": str(folder)}))
    watch._prune(history)
    assert not own.exists() and elsewhere.exists() and history.count() == 0
