"""Writing HAR 1.2: a run's hop journals, one file per hop, and a live run's exchanges.

Written as they come (an entry at a time, under a lock), never held: a recording of any length
costs the memory of one exchange. Nothing secret is written: the run's key becomes
``PLACEHOLDER``, any other key or token ``OTHER_PLACEHOLDER`` (``traffic.secrets``), wherever it
stood. The hop of each entry is kept in ``_hop`` (HAR's custom fields start with ``_``), so the
``judge`` command knows it without guessing.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qsl

from hokusai_contracts import __version__
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.lines import journal_lines
from hokusai_contracts.traffic.hops import hop_file_name
from hokusai_contracts.traffic.secrets import header_to_placeholder, to_placeholders

__all__ = ["LEAKS_ONLY", "TRAFFIC_DIR", "HarWriter", "TrafficRecorder", "write_journal_har"]

#: Where in the report directory a run's recordings go: ``traffic/<hop>.har``.
TRAFFIC_DIR = "traffic"
#: ``_judge`` of an entry a run judged for credential leaks only (what the fuzzers sent through the
#: proxy on purpose malformed): ``judge`` does the same.
LEAKS_ONLY = "leaks-only"
_OPENING = '{"log": {"version": "1.2", "creator": {"name": "hokusai-contracts", "version": %s}, "entries": [\n'
_CLOSING = "\n]}}\n"


class HarWriter:
    """One HAR file, written entry by entry: ``add(exchange)`` from any thread, ``close()`` to finish it."""

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

    def add(self, exchange: HttpExchange) -> None:
        """One exchange, at its URL (``origin`` + target: a journal's records get the receiver's origin)."""
        line = json.dumps(self._entry(exchange), ensure_ascii=False)
        with self._lock:
            if self._sink is None:
                return  # the run is over: what comes after the recording closed is not part of it
            self._sink.write((",\n" if self.count else "") + line)
            self.count += 1

    def _clean(self, text: str) -> str:
        return to_placeholders(text, self.own_key)

    def _headers(self, values: Mapping[str, str]) -> list[dict[str, str]]:
        return [{"name": k, "value": header_to_placeholder(k, v, self.own_key)} for k, v in values.items()]

    def _entry(self, exchange: HttpExchange) -> dict[str, Any]:
        sent, answer, elapsed_ms = exchange.request_body, exchange.response_body, exchange.elapsed_ms
        url = self._clean(exchange.url)
        query = url.split("?", 1)[1] if "?" in url else ""
        entry: dict[str, Any] = {
            "startedDateTime": datetime.fromtimestamp(exchange.started_at or time.time(), UTC).isoformat(),
            "time": round(elapsed_ms, 1) if elapsed_ms is not None else -1,
            **({"_hop": exchange.hop.value} if exchange.hop else {}),
            "request": {
                "method": exchange.method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                "headers": self._headers(exchange.request_headers),
                "queryString": [{"name": k, "value": v} for k, v in parse_qsl(query, keep_blank_values=True)],
                "headersSize": -1, "bodySize": sent.size,
            },
            "response": {
                "status": exchange.status or 0, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                "headers": self._headers(exchange.response_headers),
                "content": {"size": answer.size, "mimeType": _mime(exchange.response_headers)},
                "redirectURL": "", "headersSize": -1, "bodySize": answer.size,
            },
            "cache": {}, "timings": {"send": 0, "wait": round(elapsed_ms or 0, 1), "receive": 0},
        }
        if sent.size or sent.text:
            entry["request"]["postData"] = {"mimeType": _mime(exchange.request_headers),
                                            "text": self._clean(sent.text or "")}
        if answer.text is not None:
            entry["response"]["content"]["text"] = self._clean(answer.text)
        if exchange.trace:
            entry["_trace"] = exchange.trace
        if exchange.fault:
            entry["_fault"] = exchange.fault  # broken on purpose (the faults phase): not the sender's doing
        if exchange.leaks_only:
            entry["_judge"] = LEAKS_ONLY
        if exchange.error:
            entry["response"]["_error"] = self._clean(exchange.error)
        return entry

    def close(self) -> None:
        with self._lock:
            if self._sink is not None:
                self._sink.write(_CLOSING)
                self._sink.close()
                self._sink = None


def write_journal_har(journal: Path, hop: Hop, base_url: str, report_dir: Path, own_key: str | None = None,
                      leaks_only_after: int | None = None) -> Path:
    """``report_dir/traffic/<hop>.har`` from a hop journal; entries past ``leaks_only_after`` marked so."""
    path = report_dir / TRAFFIC_DIR / f"{hop_file_name(hop)}.har"
    with HarWriter(path, own_key) as writer:
        for number, exchange in enumerate(journal_lines(journal), start=1):
            writer.add(dataclasses.replace(exchange, origin=base_url.rstrip("/"),
                                           leaks_only=leaks_only_after is not None and number > leaks_only_after))
    return path


def _mime(values: Mapping[str, str]) -> str:
    return next((v for k, v in values.items() if k.lower() == "content-type"), "")


class TrafficRecorder:
    """One HAR per hop in ``report_dir/traffic/``, opened on a hop's first exchange: ``add(exchange)``."""

    def __init__(self, report_dir: Path, own_key: str | None = None) -> None:
        self.directory, self.own_key = report_dir / TRAFFIC_DIR, own_key
        self.writers: dict[Hop, HarWriter] = {}
        self._lock = threading.Lock()

    def writer(self, hop: Hop) -> HarWriter:
        with self._lock:
            if hop not in self.writers:
                self.writers[hop] = HarWriter(self.directory / f"{hop_file_name(hop)}.har", self.own_key)
            return self.writers[hop]

    def add(self, exchange: HttpExchange) -> None:
        """``exchange`` in its hop's HAR (a ``Gate`` listener)."""
        if exchange.hop is None:
            raise ValueError("an exchange without its hop has no HAR to go to")
        self.writer(exchange.hop).add(exchange)

    def close(self) -> list[Path]:
        with self._lock:
            for writer in self.writers.values():
                writer.close()
            return [writer.path for writer in self.writers.values()]
