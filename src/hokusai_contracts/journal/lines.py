"""The hop journal's file: one JSON line per ``HttpExchange``, in the flat format journals have always had.

Keys, in order: ``seq hop started_at method path raw_path query trace request_headers request_body
request_body_size request_body_sha256 credentials status response_headers response_body
response_body_size elapsed_ms error fault``. Lines are validated into the record by pydantic, so a
line that is not an exchange fails with a ``ValidationError`` (or ``ValueError``), never later.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from hokusai_contracts.domain.exchange import HttpExchange

__all__ = ["journal_line", "journal_lines", "parse_journal_line", "read_journal"]

_RECORD = TypeAdapter(HttpExchange)
_REQUIRED = ("seq", "hop", "started_at", "method", "path")


def journal_line(exchange: HttpExchange) -> str:
    """``exchange`` as one line of a journal (no line end)."""
    sent, answer = exchange.request_body, exchange.response_body
    line = {
        "seq": exchange.seq, "hop": exchange.hop.value if exchange.hop else None, "started_at": exchange.started_at,
        "method": exchange.method, "path": exchange.path, "raw_path": exchange.raw_path,
        "query": exchange.query, "trace": exchange.trace, "request_headers": exchange.request_headers,
        "request_body": sent.text, "request_body_size": sent.size, "request_body_sha256": sent.sha256,
        "credentials": [{"location": s.location, "masked": s.masked} for s in exchange.credentials],
        "status": exchange.status, "response_headers": exchange.response_headers,
        "response_body": answer.text, "response_body_size": answer.size, "elapsed_ms": exchange.elapsed_ms,
        "error": exchange.error, "fault": exchange.fault,
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def parse_journal_line(line: str | bytes) -> HttpExchange:
    """One journal line as the record; ``ValueError`` (or pydantic's ``ValidationError``) if it is none."""
    document: Any = json.loads(line)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _REQUIRED if document.get(name) is None]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    nested = {key: value for key, value in document.items()
              if key in HttpExchange.__dataclass_fields__ and key not in ("request_body", "response_body")}
    nested["request_body"] = {"text": document.get("request_body"), "size": document.get("request_body_size") or 0,
                              "sha256": document.get("request_body_sha256")}
    nested["response_body"] = {"text": document.get("response_body"), "size": document.get("response_body_size") or 0}
    return _RECORD.validate_python(nested)


def journal_lines(path: Path) -> Iterator[HttpExchange]:
    """A hop journal's exchanges one at a time (``read_journal`` holds them all)."""
    if not path.exists():
        return
    # Split on b"\n" only: a recorded value may hold U+2028 or U+0085, which JSON leaves unescaped
    # and a text-mode reader (or splitlines()) would take for line ends.
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield parse_journal_line(line)


def read_journal(path: Path) -> list[HttpExchange]:
    return list(journal_lines(path))
