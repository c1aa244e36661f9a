"""Replaying a recording's client->proxy exchanges against the local stack (``contract-local REPLAY=``).

Each exchange is sent again, in order, to the journal in front of the proxy, so every hop behind it
is journaled and judged as in any run. Keys: the recording's placeholder (and any real or masked key
in it) becomes the stack's seeded key, ``OTHER_PLACEHOLDER`` (a key a probe sent on purpose, not the
run's) a made-up key no auth service knows. Ids: a fresh stack hands out other ids than the recorded
one did, so every id an answer gave (``run_id``, ``experiment_id``, ``artifact_uri``...) that differs
from the recorded answer's is put in the later requests in its place. A body the recording kept by
size only is sent as that many zero bytes, and said so. Nothing is sent but to loopback.

The outcome, per exchange: whether the local stack answered with the recorded status, and the same
body shape where both are known (``Report.replay``).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName
from hokusai_contracts.domain.redact import KEY_PATTERN, MASKED_KEY_PATTERN, redact, register_secrets
from hokusai_contracts.journal.recording import HOP_BY_HOP, TRACE_HEADER
from hokusai_contracts.report.model import ReplayedExchange
from hokusai_contracts.report.phase import PhaseResult
from hokusai_contracts.traffic.hops import HopRules, hop_of_file
from hokusai_contracts.traffic.reading import read_traffic
from hokusai_contracts.traffic.secrets import OTHER_PLACEHOLDER, PLACEHOLDER, secrets_in

__all__ = ["body_shape", "load_replay", "run_replay"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# The answer's fields whose values a fresh stack gives anew: ids, and URIs built of them.
_ID_FIELD = re.compile(r"(?:^|_)(?:id|ids|uuid)$|_uri$|^id$", re.IGNORECASE)
# Short ids ("1") are put in place only where they stand whole: a path segment, or the value of a query
# parameter or JSON field named for an id; longer ones wherever they appear (in an artifact URI).
_LONG_ID = 12
_NOT_SENT = HOP_BY_HOP | {"content-length", TRACE_HEADER.lower(), "accept-encoding"}


def load_replay(path: Path, auth: Contract, mlflow: Contract, proxy: Contract) -> list[HttpExchange]:
    """The client->proxy exchanges of the recording at ``path``: bad input is exit 2, before the stack starts."""
    if not path.is_file():
        raise UsageError(f"REPLAY={path}: no such file; give a HAR (or JSONL, NDJSON) recording")
    rules, named = HopRules(auth, mlflow, proxy), hop_of_file(path)
    chosen = []
    for item in read_traffic(path):
        if not isinstance(item, HttpExchange):
            continue
        hop = item.hop or named or rules.hop_of(item.method, item.url)
        if hop is Hop.CLIENT_TO_PROXY:
            # Whatever real key the recording holds is replaced by the seeded one: still never shown.
            register_secrets(*secrets_in(item.texts()))
            chosen.append(item)
    if not chosen:
        raise UsageError(f"REPLAY={path}: no client->proxy exchange in it (paths under {rules.mount or 'the mount'}); "
                         "record one with `make contract-live RECORD=1` or a local run's traffic/client-proxy.har")
    return chosen


def body_shape(body: Body, content_type: str = "") -> str:
    """``json{keys}``, ``json[]``, ``text``, ``empty``, or ``unknown`` when the body was not recorded."""
    if body.text is None:
        return "empty" if body.recorded and not body.size else "unknown"
    try:
        value = json.loads(body.text)
    except ValueError:
        return "text"
    if isinstance(value, dict):
        return "json{" + ",".join(sorted(value)) + "}"
    return "json[]" if isinstance(value, list) else "json"


class _Ids:
    """Recorded id -> the id the local stack gave in its place."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def learn(self, recorded: Any, replayed: Any, field: str = "") -> None:
        if isinstance(recorded, dict) and isinstance(replayed, dict):
            for key, value in recorded.items():
                if key in replayed:
                    self.learn(value, replayed[key], key)
        elif isinstance(recorded, list) and isinstance(replayed, list):
            for old, new in zip(recorded, replayed, strict=False):
                self.learn(old, new, field)
        elif isinstance(recorded, str | int) and isinstance(replayed, str | int) and not isinstance(recorded, bool):
            if _ID_FIELD.search(field) and str(recorded) != str(replayed) and str(recorded):
                self.ids[str(recorded)] = str(replayed)

    def text(self, text: str) -> str:
        for old in sorted((o for o in self.ids if len(o) >= _LONG_ID), key=len, reverse=True):
            text = text.replace(old, self.ids[old])
        return text

    def path(self, path: str) -> str:
        return "/".join(self.ids.get(part, part) for part in self.text(path).split("/"))

    def value(self, field: str, value: str) -> str:
        """A short id only in a field named for one: ``version=1`` is no experiment's id."""
        return self.ids.get(value, value) if _ID_FIELD.search(field) else self.text(value)

    def query(self, query: str) -> str:
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode([(k, self.value(k, v)) for k, v in pairs])

    def body(self, text: str) -> str:
        try:
            value = json.loads(text)
        except ValueError:
            return self.text(text)

        def walk(node: Any, field: str) -> Any:
            if isinstance(node, dict):
                return {k: walk(v, k) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v, field) for v in node]
            if isinstance(node, str):
                return self.value(field, node)
            return node

        return json.dumps(walk(value, ""))


def _keys(text: str, key: str, other: str) -> str:
    text = text.replace(PLACEHOLDER, key).replace(OTHER_PLACEHOLDER, other)
    return MASKED_KEY_PATTERN.sub(key, KEY_PATTERN.sub(lambda m: m.group(0) if m.group(0) == other else key, text))


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def run_replay(exchanges: list[HttpExchange], front_root: str, key: str,
               out: Callable[[str], None] = print, timeout_s: float = 60.0) -> PhaseResult:
    """Send ``exchanges`` to ``front_root`` (loopback only) in order; one ``ReplayedExchange`` each."""
    host = urlsplit(front_root).hostname or ""
    if host not in _LOOPBACK:
        raise UsageError(f"replay goes to loopback only, not {host!r}")
    started = time.perf_counter()
    # Not a key of any auth service: what a probe's made-up or revoked key meets again.
    other = "hk_live_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    ids, result = _Ids(), PhaseResult()
    out(f"\n— Replay: {len(exchanges)} recorded client->proxy exchanges, in order —")
    # trust_env=False: no HTTP(S)_PROXY from the environment may take the replay off loopback.
    with httpx.Client(timeout=timeout_s, trust_env=False, follow_redirects=False) as client:
        for item in exchanges:
            result.replay.append(_one(client, item, front_root, key, other, ids))
    reproduced = sum(r.reproduced for r in result.replay)
    out(f"{'✓' if reproduced == len(result.replay) else '✗'} replay: {reproduced} of {len(result.replay)} "
        "recorded exchanges reproduced (status and shape)")
    result.metrics.update({"replay.exchanges": float(len(result.replay)), "replay.reproduced": float(reproduced)})
    result.timings[PhaseName.REPLAY] = round(time.perf_counter() - started, 3)
    return result


def _one(client: httpx.Client, item: HttpExchange, front_root: str, key: str, other: str,
         ids: _Ids) -> ReplayedExchange:
    path = ids.path(_keys(item.raw_path or item.path, key, other))
    query = ids.query(_keys(item.query_string, key, other))
    headers = {k: _keys(v, key, other) for k, v in item.request_headers.items() if k.lower() not in _NOT_SENT}
    note = ""
    content: bytes = b""
    if item.request_body.text is not None:
        content = ids.body(_keys(item.request_body.text, key, other)).encode("utf-8")
    elif item.request_body.size:
        content, note = bytes(item.request_body.size), f"body not recorded: sent {item.request_body.size} zero bytes"
    recorded_type = next((v for k, v in item.response_headers.items() if k.lower() == "content-type"), "")
    try:
        answer = client.request(item.method, front_root.rstrip("/") + path + (f"?{query}" if query else ""),
                                headers=headers, content=content or None)
        status: int | None = answer.status_code
        replayed = Body.of(answer.text if answer.content else None, len(answer.content))
        ids.learn(_json(item.response_body.text), _json(replayed.text))
    except httpx.HTTPError as exc:
        status, replayed, note = None, Body(), f"no answer: {type(exc).__name__}"
    recorded_shape = body_shape(item.response_body, recorded_type)
    replayed_shape = body_shape(replayed)
    shapes_agree = "unknown" in (recorded_shape, replayed_shape) or recorded_shape == replayed_shape
    return ReplayedExchange(index=item.seq, method=item.method, path=redact(path), recorded_status=item.status,
                            replayed_status=status, recorded_shape=recorded_shape, replayed_shape=replayed_shape,
                            reproduced=status == item.status and shapes_agree, note=redact(note))
