"""Reading a capture: HAR 1.2, the hop journal's JSONL, or NDJSON, told apart by their content.

All three stream: JSONL and NDJSON line by line, a HAR entry by entry (``ijson``), so a capture of
any size is read in the memory of one exchange. The format is the content's, whatever the file is
called: a HAR is one JSON object with ``log.entries``; a journal line has ``seq``, ``hop`` and
``path``; an NDJSON line has ``method`` and ``url`` (with ``status``, ``headers`` and ``body`` of the
request; ``response_headers`` and ``response_body`` if the capture has them).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import ijson  # type: ignore[import-untyped,unused-ignore]
from pydantic import ValidationError

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.lines import parse_journal_line
from hokusai_contracts.traffic.har import LEAKS_ONLY
from hokusai_contracts.traffic.records import Unreadable

__all__ = ["PEEK", "Format", "detect_format", "detect_format_of", "parse_har", "parse_line", "read_traffic"]

# Enough of the start of a file to tell its format by: a HAR's first line may be one long line.
PEEK = 64 * 1024
_FORMATS = "a HAR 1.2 file, the toolkit's journal JSONL, or NDJSON of {method, url, status, headers, body}"


class Format(StrEnum):
    HAR = "har"
    JOURNAL = "jsonl"
    NDJSON = "ndjson"


def detect_format(path: Path) -> Format:
    """The capture's format by its content; ``UsageError`` (exit 2) for anything else."""
    with path.open("rb") as handle:
        head = handle.read(PEEK)
    return detect_format_of(head, str(path))


def detect_format_of(head: bytes, path: str) -> Format:
    """The format of the capture whose first bytes are ``head`` (``path`` names it in an error)."""
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    if not first.startswith("{"):
        raise UsageError(f"{path}: not {_FORMATS}; export the traffic in one of those formats")
    try:
        document = json.loads(first)
    except ValueError:
        document = None
    if isinstance(document, dict):
        if "log" in document:
            return Format.HAR
        if {"seq", "hop", "path"} <= document.keys():
            return Format.JOURNAL
        if {"method", "url"} <= document.keys():
            return Format.NDJSON
        raise UsageError(f"{path}: line 1 is JSON but no exchange (no method and url, no HAR log); "
                         f"give {_FORMATS}")
    # A first line that is not a whole object: a HAR written over many lines.
    if '"log"' in text or len(first) == 1:
        return Format.HAR
    raise UsageError(f"{path}: not {_FORMATS}; export the traffic in one of those formats")


def read_traffic(path: Path, fmt: Format | None = None) -> Iterator[HttpExchange | Unreadable]:
    """Every exchange of the capture at ``path``, one at a time, in the order recorded."""
    fmt = fmt or detect_format(path)
    with path.open("rb") as handle:
        if fmt is Format.HAR:
            yield from parse_har(handle, str(path))
        else:
            yield from _lines(handle, fmt)


def _lines(handle: IO[bytes], fmt: Format) -> Iterator[HttpExchange | Unreadable]:
    # Split on b"\n" only: JSON leaves U+2028 unescaped, which a text-mode reader takes for a line end.
    for index, raw in enumerate(handle, start=1):
        if raw.strip():
            yield parse_line(raw, fmt, index)


def parse_line(raw: bytes, fmt: Format, index: int) -> HttpExchange | Unreadable:
    """One line of a JSONL or NDJSON capture (``index``: its 1-based number, for messages)."""
    try:
        if fmt is Format.JOURNAL:
            return dataclasses.replace(parse_journal_line(raw), seq=index)
        return _from_ndjson(index, json.loads(raw))
    except (ValueError, ValidationError, TypeError, AttributeError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else type(exc).__name__
        return Unreadable(index, f"line {index}: not a {fmt.value.upper()} exchange ({reason}); skipped")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _headers(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):  # HAR's [{name, value}]
        return {str(h["name"]): str(h.get("value", "")) for h in value if isinstance(h, dict) and "name" in h}
    return {}


def _hop(value: Any) -> Hop | None:
    try:
        return Hop(value) if value else None
    except ValueError:
        return None


def _ndjson_body(line: dict[str, Any], *names: str) -> Body:
    """A body the line gives (``null`` or ``""``: none was sent), or ``Body(recorded=False)``."""
    name = next((n for n in names if n in line), None)
    return Body.of(_text(line[name])) if name else Body(recorded=False)


def _at(url: str) -> dict[str, Any]:
    """The request target's fields of a recorded URL."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return {"path": path, "raw_path": path, "query": tuple(parse_qsl(parts.query, keep_blank_values=True)),
            "raw_query": parts.query,
            "origin": f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None}


def _from_ndjson(index: int, line: dict[str, Any]) -> HttpExchange:
    if not isinstance(line.get("method"), str) or not isinstance(line.get("url"), str):
        raise ValueError("no method and url")
    status = line.get("status")
    return HttpExchange(
        seq=index, method=line["method"], **_at(line["url"]),
        status=int(status) if status not in (None, "", 0) else None,
        request_headers=_headers(line.get("headers", line.get("request_headers"))),
        request_body=_ndjson_body(line, "body", "request_body"),
        response_headers=_headers(line.get("response_headers")),
        response_body=_ndjson_body(line, "response_body"),
        elapsed_ms=float(line["elapsed_ms"]) if isinstance(line.get("elapsed_ms"), int | float) else None,
        hop=_hop(line.get("hop")),
    )


def parse_har(handle: IO[bytes], path: str) -> Iterator[HttpExchange | Unreadable]:
    """A HAR's entries one at a time, streamed (``path`` names it in an error)."""
    index = 0
    try:
        # use_float: numbers as floats, not Decimals (HAR times are milliseconds, not money).
        for index, item in enumerate(ijson.items(handle, "log.entries.item", use_float=True), start=1):
            try:
                yield _from_har(index, item)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                yield Unreadable(index, f"entry {index}: not a HAR 1.2 entry ({type(exc).__name__}: {exc}); "
                                        "skipped")
    except ijson.JSONError as exc:
        raise UsageError(f"{path}: not valid JSON after entry {index} ({exc}); export the HAR again") from None
    if index == 0:
        raise UsageError(f"{path}: a JSON document without log.entries: not a HAR 1.2 file")


def _har_body(content: dict[str, Any] | None) -> Body:
    if not content:
        return Body()
    text = content.get("text")
    size = content.get("size")
    if text and content.get("encoding") == "base64":
        try:
            raw = base64.b64decode(text)
        except (binascii.Error, ValueError):
            return Body(None, int(size or 0))
        try:
            return Body.of(raw.decode("utf-8"), len(raw))
        except UnicodeDecodeError:
            return Body(None, len(raw))
    known = int(size) if isinstance(size, int | float) and size > 0 else None
    return Body.of(text, known) if text else Body(None, known or 0)


def _from_har(index: int, entry: dict[str, Any]) -> HttpExchange:
    request, response = entry["request"], entry.get("response") or {}
    status = int(response.get("status") or 0)
    elapsed = entry.get("time")
    sent = _har_body(request.get("postData"))
    if sent.text is None and not sent.size and isinstance(request.get("bodySize"), int | float):
        sent = Body(None, max(int(request["bodySize"]), 0))
    return HttpExchange(
        seq=index, method=str(request["method"]), **_at(str(request["url"])), status=status or None,
        request_headers=_headers(request.get("headers")),
        request_body=sent,
        response_headers=_headers(response.get("headers")),
        response_body=_har_body(response.get("content")),
        elapsed_ms=float(elapsed) if isinstance(elapsed, int | float) and elapsed >= 0 else None,
        hop=_hop(entry.get("_hop")), trace=entry.get("_trace"), fault=entry.get("_fault"),
        leaks_only=entry.get("_judge") == LEAKS_ONLY,
        error=response.get("_error") or (None if status else "no answer"),
    )
