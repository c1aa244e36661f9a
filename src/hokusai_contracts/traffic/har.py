"""Writing HAR 1.2: a run's hop journals, one file per hop, and a live run's exchanges.

Written as they come (an entry at a time, under a lock), never held: a recording of any length
costs the memory of one exchange. Nothing secret is written: the run's key becomes
``PLACEHOLDER``, any other key or token ``OTHER_PLACEHOLDER`` (``traffic.secrets``), wherever it
stood. The hop of each entry is kept in ``_hop`` (HAR's custom fields start with ``_``), so the
``judge`` command knows it without guessing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qsl

from hokusai_contracts import __version__
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.recording import TEXT_BODY_LIMIT, JournalEntry
from hokusai_contracts.traffic.hops import hop_file_name
from hokusai_contracts.traffic.secrets import header_to_placeholder, to_placeholders

__all__ = ["LEAKS_ONLY", "TRAFFIC_DIR", "HarWriter", "TrafficRecorder", "body_text", "journal_lines",
           "write_journal_har"]

#: Where in the report directory a run's recordings go: ``traffic/<hop>.har``.
TRAFFIC_DIR = "traffic"
#: ``_judge`` of an entry a run judged for credential leaks only (what the fuzzers sent through the
#: proxy on purpose malformed): ``judge`` does the same.
LEAKS_ONLY = "leaks-only"
_OPENING = '{"log": {"version": "1.2", "creator": {"name": "hokusai-contracts", "version": %s}, "entries": [\n'
_CLOSING = "\n]}}\n"


class HarWriter:
    """One HAR file, written entry by entry: ``add(...)`` from any thread, ``close()`` to finish it."""

    def __init__(self, path: Path, own_key: str | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.own_key = path, own_key
        self.count = 0
        self._lock = threading.Lock()
        self._sink: IO[str] | None = path.open("w", encoding="utf-8")
        self._sink.write(_OPENING % json.dumps(__version__))

    def __enter__(self) -> HarWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def add(self, hop: Hop, method: str, url: str, *, request_headers: Mapping[str, str],
            request_body: str | None, request_size: int, status: int | None,
            response_headers: Mapping[str, str], response_body: str | None, response_size: int,
            elapsed_ms: float | None, started_at: float, error: str | None = None, trace: str | None = None,
            fault: str | None = None, leaks_only: bool = False) -> None:
        own = self.own_key

        def clean(text: str) -> str:
            return to_placeholders(text, own)

        def headers(values: Mapping[str, str]) -> list[dict[str, str]]:
            return [{"name": k, "value": header_to_placeholder(k, v, own)} for k, v in values.items()]

        def mime(values: Mapping[str, str]) -> str:
            return next((v for k, v in values.items() if k.lower() == "content-type"), "")

        url = clean(url)
        query = url.split("?", 1)[1] if "?" in url else ""
        entry: dict[str, Any] = {
            "startedDateTime": datetime.fromtimestamp(started_at, UTC).isoformat(),
            "time": round(elapsed_ms, 1) if elapsed_ms is not None else -1,
            "_hop": hop.value,
            "request": {
                "method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                "headers": headers(request_headers),
                "queryString": [{"name": k, "value": v} for k, v in parse_qsl(query, keep_blank_values=True)],
                "headersSize": -1, "bodySize": request_size,
            },
            "response": {
                "status": status or 0, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                "headers": headers(response_headers),
                "content": {"size": response_size, "mimeType": mime(response_headers)},
                "redirectURL": "", "headersSize": -1, "bodySize": response_size,
            },
            "cache": {}, "timings": {"send": 0, "wait": round(elapsed_ms or 0, 1), "receive": 0},
        }
        if request_size or request_body:
            entry["request"]["postData"] = {"mimeType": mime(request_headers), "text": clean(request_body or "")}
        if response_body is not None:
            entry["response"]["content"]["text"] = clean(response_body)
        if trace:
            entry["_trace"] = trace
        if fault:
            entry["_fault"] = fault  # broken on purpose (the faults phase): not the sender's doing
        if leaks_only:
            entry["_judge"] = LEAKS_ONLY
        if error:
            entry["response"]["_error"] = clean(error)
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            if self._sink is None:
                return  # the run is over: what comes after the recording closed is not part of it
            self._sink.write((",\n" if self.count else "") + line)
            self.count += 1

    def add_entry(self, entry: JournalEntry, base_url: str, *, leaks_only: bool = False) -> None:
        """A hop journal's entry, sent to ``base_url`` (the hop's receiver)."""
        query = "&".join(f"{k}={v}" for k, v in entry.query)
        self.add(entry.hop, entry.method, base_url.rstrip("/") + (entry.raw_path or entry.path)
                 + (f"?{query}" if query else ""),
                 request_headers=entry.request_headers, request_body=entry.request_body,
                 request_size=entry.request_body_size, status=entry.status,
                 response_headers=entry.response_headers, response_body=entry.response_body,
                 response_size=entry.response_body_size, elapsed_ms=entry.elapsed_ms,
                 started_at=entry.started_at, error=entry.error, trace=entry.trace, fault=entry.fault,
                 leaks_only=leaks_only)

    def close(self) -> None:
        with self._lock:
            if self._sink is not None:
                self._sink.write(_CLOSING)
                self._sink.close()
                self._sink = None


def body_text(content: bytes) -> str | None:
    """A body as HAR text: small and UTF-8, else only its size is recorded."""
    if not content or len(content) > TEXT_BODY_LIMIT:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def journal_lines(path: Path) -> Iterator[JournalEntry]:
    """A hop journal's entries one at a time (``read_journal`` holds them all)."""
    if not path.exists():
        return
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield JournalEntry.model_validate_json(line)


def write_journal_har(journal: Path, hop: Hop, base_url: str, report_dir: Path, own_key: str | None = None,
                      leaks_only_after: int | None = None) -> Path:
    """``report_dir/traffic/<hop>.har`` from a hop journal; entries past ``leaks_only_after`` marked so."""
    path = report_dir / TRAFFIC_DIR / f"{hop_file_name(hop)}.har"
    with HarWriter(path, own_key) as writer:
        for number, entry in enumerate(journal_lines(journal), start=1):
            writer.add_entry(entry, base_url, leaks_only=leaks_only_after is not None and number > leaks_only_after)
    return path


class TrafficRecorder:
    """One HAR per hop in ``report_dir/traffic/``, opened on a hop's first exchange: ``writer(hop).add(...)``."""

    def __init__(self, report_dir: Path, own_key: str | None = None) -> None:
        self.directory, self.own_key = report_dir / TRAFFIC_DIR, own_key
        self.writers: dict[Hop, HarWriter] = {}
        self._lock = threading.Lock()

    def writer(self, hop: Hop) -> HarWriter:
        with self._lock:
            if hop not in self.writers:
                self.writers[hop] = HarWriter(self.directory / f"{hop_file_name(hop)}.har", self.own_key)
            return self.writers[hop]

    def close(self) -> list[Path]:
        with self._lock:
            for writer in self.writers.values():
                writer.close()
            return [writer.path for writer in self.writers.values()]
