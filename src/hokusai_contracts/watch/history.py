"""The watch's history in SQLite (``--state``): every round, the causes alerted on, the probe experiment.

Kept across restarts: a watch started again reads which causes are open (so it neither fires them
again nor forgets to resolve them), which probe experiment it reuses, and how many requests the
last hour's rounds sent. One connection per call: the status page reads from the server's threads
while the loop writes (WAL lets them), and nothing holds a connection between rounds.

Tables: ``rounds`` (one row per round: times, status, reason, requests, report path, and the whole
``Round`` as JSON), ``causes`` (one row per open cause of a round: hop, kind, location, rule,
diagnosis, curl), ``state`` (name -> value: the open alerts as JSON, the probe experiment's id).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

from hokusai_contracts._errors import UsageError
from hokusai_contracts.watch.rounds import Round, WatchedCause

__all__ = ["History"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    seconds REAL NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    report_path TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rounds_finished ON rounds (finished_at);
CREATE TABLE IF NOT EXISTS causes (
    round_id INTEGER NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    hop TEXT NOT NULL, kind TEXT NOT NULL, location TEXT NOT NULL, rule TEXT NOT NULL,
    diagnosis TEXT NOT NULL DEFAULT '', curl TEXT
);
CREATE INDEX IF NOT EXISTS causes_round ON causes (round_id);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_OPEN_ALERTS = "open_alerts"
_PROBE = "probe_experiment"


class History:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, path: Path, setting: str = "--state") -> History:
        """The history at ``path``, created if new; a ``UsageError`` naming ``setting`` when it cannot be written."""
        history = cls(path)
        existed = path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with history._connect() as db:
                db.executescript(_SCHEMA)
                db.execute("BEGIN IMMEDIATE")  # takes the write lock: a read-only file or folder fails here
                db.execute("INSERT OR REPLACE INTO state (name, value) SELECT name, value FROM state LIMIT 0")
                db.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            if not existed:  # refused input leaves nothing behind
                for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                    with suppress(OSError):
                        leftover.unlink(missing_ok=True)
            raise UsageError(f"{setting}: cannot write the watch history {path} ({exc}); choose a writable file "
                             "with --state or HOKUSAI_WATCH_STATE") from None
        return history

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            yield db

    # -- rounds ---------------------------------------------------------------------------------

    def add(self, record: Round) -> Round:
        """Store a round and its causes; returns it with its id."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "INSERT INTO rounds (started_at, finished_at, status, reason, seconds, requests, report_path, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
                (record.started_at, record.finished_at, record.status.value, record.reason, record.seconds,
                 record.requests, record.report_path))
            stored = record.model_copy(update={"id": cursor.lastrowid})
            db.execute("UPDATE rounds SET record = ? WHERE id = ?", (stored.model_dump_json(), stored.id))
            db.executemany(
                "INSERT INTO causes (round_id, hop, kind, location, rule, diagnosis, curl)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(stored.id, c.hop, c.kind, c.location, c.rule, c.diagnosis, c.curl) for c in record.causes])
            db.execute("COMMIT")
        return stored

    def rounds(self, limit: int = 50) -> list[Round]:
        """The last ``limit`` rounds, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT record FROM rounds ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Round.model_validate_json(row[0]) for row in rows]

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])

    def requests_since(self, since: float) -> int:
        """Requests sent by the rounds that ended after ``since`` (all of an hour's, and perhaps a few more)."""
        with self._connect() as db:
            row = db.execute("SELECT COALESCE(SUM(requests), 0) FROM rounds WHERE finished_at > ?", (since,)).fetchone()
        return int(row[0])

    def prune(self, before: float) -> list[str]:
        """Forget the rounds that ended before ``before``; returns their report paths (to remove as well)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            paths = [row[0] for row in db.execute(
                "SELECT report_path FROM rounds WHERE finished_at < ? AND report_path IS NOT NULL", (before,))]
            db.execute("DELETE FROM rounds WHERE finished_at < ?", (before,))
            db.execute("COMMIT")
        return paths

    # -- state ----------------------------------------------------------------------------------

    def _get(self, name: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, name: str, value: str) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)", (name, value))

    def open_alerts(self) -> list[WatchedCause]:
        """The causes a firing alert went out for and no resolved one yet."""
        stored = self._get(_OPEN_ALERTS)
        return [WatchedCause.model_validate(item) for item in json.loads(stored)] if stored else []

    def set_open_alerts(self, causes: list[WatchedCause]) -> None:
        self._set(_OPEN_ALERTS, json.dumps([c.model_dump(mode="json") for c in causes]))

    def probe_experiment(self) -> str | None:
        """The id of the ``contract-probe-*`` experiment every round registers into, once the first made it."""
        return self._get(_PROBE)

    def set_probe_experiment(self, experiment_id: str) -> None:
        self._set(_PROBE, experiment_id)
