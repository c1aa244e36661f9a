"""What a capture yields: one ``HttpExchange`` at a time, or an ``Unreadable`` item in its place."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.traffic.secrets import from_placeholders

__all__ = ["Unreadable", "as_judged"]


def _clean(text: str) -> str:
    return redact(from_placeholders(text))


def _cleaned(body: Body) -> Body:
    return dataclasses.replace(body, text=_clean(body.text) if body.text is not None else None)


def as_judged(item: HttpExchange, hop: Hop) -> HttpExchange:
    """``item`` as a hop journal would have recorded it on ``hop``: secrets masked, a placeholder read as a
    masked key, the query as parameters (the raw query string may hold what was masked)."""
    path = _clean(item.path)
    return dataclasses.replace(
        item, hop=hop, started_at=item.started_at or time.time(), method=item.method.upper(), path=path,
        raw_path=path, raw_query=None, query=tuple((k, _clean(v)) for k, v in item.query),
        request_headers={k: _clean(v) for k, v in item.request_headers.items()},
        request_body=_cleaned(item.request_body),
        response_headers={k: _clean(v) for k, v in item.response_headers.items()},
        response_body=_cleaned(item.response_body),
    )


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line or entry of a capture that holds no exchange: why, to say in one line."""

    index: int
    reason: str
