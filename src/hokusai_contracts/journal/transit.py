"""Alteration in transit: what a client sent the proxy against what the proxy sent MLflow.

The journal in front of the proxy (``client->proxy``) gives every request a ``TRACE_HEADER``; the
journal in front of MLflow records the header it finds. A request and its forwarded copy are
compared field by field: method, path as percent-encoded on the wire (less the proxy's declared
mount), every query parameter with its values in order, and the body (by digest; JSON bodies by
value, since re-serialising a document changes no field). Headers are not compared: a proxy
removes the caller's credentials and hop-by-hop headers and adds ``X-Hokusai-*`` ones, all
documented. Query parameters that carried the caller's key are the proxy's to remove.

A proxy that drops unknown headers leaves nothing to pair by trace; requests are then paired by
order only when both journals hold the same sequence of methods and paths, and otherwise not
judged, with a warning saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.journal.recording import TRACE_HEADER

__all__ = ["TransitResult", "compare_transit"]

_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass
class TransitResult:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    compared: int = 0


def _normal_path(raw: str) -> str:
    """RFC 3986 normalisation only: hex digits upper-cased, unreserved characters decoded.

    ``%2F`` stays ``%2F`` and ``%0A`` stays ``%0A``: decoding those changes what the path means.
    """
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED_CHARS else "%" + match.group(1).upper()

    return _UNRESERVED.sub(one, raw)


def _wire_path(entry: HttpExchange) -> str:
    return _normal_path(entry.raw_path if entry.raw_path is not None else entry.path)


def _grouped(query: Sequence[tuple[str, str]], skip: set[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        if name not in skip:
            grouped.setdefault(name, []).append(value)
    return grouped


def _same_body(sent: HttpExchange, forwarded: HttpExchange) -> bool:
    before, after = sent.request_body, forwarded.request_body
    if (before.size, before.sha256) == (after.size, after.sha256):
        return True
    if before.text is None or after.text is None:
        return False
    try:
        document: Any = json.loads(before.text)
        return bool(document == json.loads(after.text))
    except ValueError:
        return False


def _body_text(entry: HttpExchange) -> str:
    body = entry.request_body
    if not body.size:
        return "no body"
    shown = body.text[:200] if body.text is not None else "(not kept)"
    return f"{body.size} bytes, sha256 {str(body.sha256)[:16]}...: {shown}"


def _differences(sent: HttpExchange, forwarded: HttpExchange, mount: str) -> list[tuple[str, str, str]]:
    """(location, what the client sent, what MLflow got) for every field the proxy changed."""
    found: list[tuple[str, str, str]] = []
    if sent.method != forwarded.method:
        found.append(("method", sent.method, forwarded.method))
    path = _wire_path(sent)
    if mount and (path == mount or path.startswith(mount + "/")):
        path = path[len(mount):] or "/"
    if path != _wire_path(forwarded):
        found.append(("path", path, _wire_path(forwarded)))
    keys = {s.location.removeprefix("query.") for s in sent.credentials if s.location.startswith("query.")}
    before, after = _grouped(sent.query, keys), _grouped(forwarded.query, keys)
    for name in sorted(before.keys() | after.keys()):
        if before.get(name) != after.get(name):
            found.append((f"query.{name}", _values(before.get(name)), _values(after.get(name))))
    if not _same_body(sent, forwarded):
        found.append(("body", _body_text(sent), _body_text(forwarded)))
    return found


def _values(values: list[str] | None) -> str:
    return "absent" if values is None else json.dumps(values)


def _pairs(sent: Sequence[HttpExchange], received: Sequence[HttpExchange],
           mount: str) -> tuple[list[tuple[HttpExchange, HttpExchange]], list[str]]:
    by_trace: dict[str, list[HttpExchange]] = {}
    for entry in received:
        if entry.trace:
            by_trace.setdefault(entry.trace, []).append(entry)
    if by_trace:
        # One client request the proxy turned into several upstream calls has no single copy to compare.
        return [(s, by_trace[s.trace][0]) for s in sent if s.trace and len(by_trace.get(s.trace, [])) == 1], []
    forwarded = [s for s in sent if s.path.startswith(mount + "/")]
    if forwarded and len(forwarded) == len(received) and all(
            s.method == r.method and s.path[len(mount):] == r.path for s, r in zip(forwarded, received, strict=True)):
        return list(zip(forwarded, received, strict=True)), []
    # Only what reached MLflow can have been changed on the way: when the proxy refused every request
    # (MLflow saw its own health checks at most), there is nothing to pair, and nothing to warn of.
    reached = {(s.method, s.path[len(mount):]) for s in forwarded}
    if not any((r.method, r.path) in reached for r in received):
        return [], []
    return [], [f"MLflow received no {TRACE_HEADER} header (the proxy drops it) and the requests cannot be "
                "paired by order: what the proxy changed in transit was not judged; forward X-Hokusai-* "
                "headers to MLflow to have it judged"]


def compare_transit(sent: Sequence[HttpExchange], received: Sequence[HttpExchange], mlflow: Contract, *,
                    mount: str, suite: Suite = Suite.HOP_JOURNAL) -> TransitResult:
    """``altered_in_transit`` findings on proxy->mlflow, merged by (operation, location)."""
    result = TransitResult()
    pairs, result.warnings = _pairs([s for s in sent if not s.fault], [r for r in received if not r.fault], mount)
    merged: dict[tuple[str, str, str, str], Finding] = {}
    for client_side, mlflow_side in pairs:
        result.compared += 1
        match = mlflow.match(mlflow_side.method, mlflow_side.path)
        operation = match.operation.label if match is not None else f"{mlflow_side.method} {mlflow_side.path}"
        for location, before, after in _differences(client_side, mlflow_side, mount):
            finding = Finding(
                hop=Hop.PROXY_TO_MLFLOW, operation=operation, kind=FindingKind.ALTERED_IN_TRANSIT,
                location=location, suite=suite,
                expected=f"as the client sent it: {before}", observed=f"MLflow received: {after}",
                recommendation=f"The proxy must forward {location} unchanged; it changed it between the client "
                               "and MLflow.",
                exchanges=[client_side.evidence(raw_path=True, answer=False),
                           mlflow_side.evidence(raw_path=True, answer=False)],
            )
            key = finding.identity()
            if key in merged:
                merged[key].count += 1
            else:
                merged[key] = finding
    result.findings = list(merged.values())
    return result
