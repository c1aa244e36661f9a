"""The SQLite history: rounds and their causes, open alerts and the probe experiment, across restarts."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.watch.history import History
from hokusai_contracts.watch.rounds import RoundStatus

from .rounds_fixtures import AUTH_DOWN, make_round


def test_rounds_and_causes_are_kept_across_a_reopen(tmp_path: Path) -> None:
    history = History.open(tmp_path / "watch.sqlite")
    first = history.add(make_round())
    second = history.add(make_round(RoundStatus.FAIL, [AUTH_DOWN], started_at=1_800_000_100.0))
    history.set_open_alerts([AUTH_DOWN])
    history.set_probe_experiment("17")

    again = History.open(tmp_path / "watch.sqlite")
    assert [r.id for r in again.rounds()] == [second.id, first.id] == [2, 1]
    assert again.rounds()[0].causes == [AUTH_DOWN] and again.rounds()[0].status is RoundStatus.FAIL
    assert again.open_alerts() == [AUTH_DOWN] and again.probe_experiment() == "17"
    with sqlite3.connect(tmp_path / "watch.sqlite") as db:  # real columns, for anyone's SQL
        assert db.execute("SELECT status, seconds, requests, report_path FROM rounds ORDER BY id").fetchall() == [
            ("pass", 20.0, 70, "reports/watch/x"), ("fail", 20.0, 70, "reports/watch/x")]
        assert db.execute("SELECT round_id, hop, kind, location, diagnosis FROM causes").fetchall() == [
            (2, "client->auth", "unreachable", "connection", "infrastructure: auth is down")]


def test_requests_of_the_last_hour_and_pruning_by_age(tmp_path: Path) -> None:
    history = History.open(tmp_path / "watch.sqlite")
    history.add(make_round(started_at=1000.0, requests=50))  # finished at 1020
    history.add(make_round(RoundStatus.FAIL, [AUTH_DOWN], started_at=5000.0, requests=30))  # 5020
    assert history.requests_since(1019.0) == 80 and history.requests_since(1021.0) == 30
    assert history.prune(before=2000.0) == ["reports/watch/x"]
    assert [r.started_at for r in history.rounds()] == [5000.0]
    with sqlite3.connect(tmp_path / "watch.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM causes").fetchone() == (1,)  # the pruned round had none


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_an_unwritable_state_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(UsageError, match=r"--state: cannot write the watch history .*choose a writable file"):
        History.open(folder / "watch.sqlite")
    assert list(folder.iterdir()) == []


def test_a_state_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not sqlite, just notes\n" * 100)
    with pytest.raises(UsageError, match="cannot write the watch history"):
        History.open(path)
    assert path.read_text().startswith("not sqlite")  # left as it was


def test_a_state_in_a_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write the watch history"):
        History.open(tmp_path / "file" / "watch.sqlite")


def test_a_state_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot write the watch history"):
        History.open(tmp_path)
