"""What a capture yields: one ``Recorded`` exchange at a time, or an ``Unreadable`` item in its place."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.journal.recording import TEXT_BODY_LIMIT, JournalEntry
from hokusai_contracts.traffic.secrets import from_placeholders

__all__ = ["Body", "Recorded", "Unreadable"]


@dataclass(frozen=True, slots=True)
class Body:
    """A message body as recorded: its text when small and text at all, else only its size."""

    text: str | None = None
    size: int = 0
    #: False when the capture does not record this body at all (an access log): it is not judged,
    #: as a hop journal's body too large to keep is not, rather than taken for an empty one.
    recorded: bool = True

    @property
    def kept_size(self) -> int:
        """The size to judge by: a body not recorded counts as sent and not kept."""
        return self.size if self.recorded else max(self.size, 1)

    @classmethod
    def of(cls, text: str | None, size: int | None = None) -> Body:
        if text is None or text == "":
            return cls(None, size or 0)
        length = len(text.encode("utf-8")) if size is None else size
        return cls(text if length <= TEXT_BODY_LIMIT else None, length)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded exchange: what was sent where, and what came back (``status`` None: no answer)."""

    #: 1-based place in the capture (a line of JSONL/NDJSON, an entry of a HAR).
    index: int
    method: str
    #: As recorded: absolute (``https://host/path?q``) or a path with its query.
    url: str
    status: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: Body = Body()
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Body = Body()
    elapsed_ms: float | None = None
    started_at: float | None = None
    #: The hop the capture names (a journal line, a HAR entry's ``_hop``), if it does.
    hop: Hop | None = None
    trace: str | None = None
    error: str | None = None
    #: A fault the run injected on purpose (``_fault``): not judged, as in the run.
    fault: str | None = None
    #: Judged for credential leaks only, as the run judged it (``_judge: leaks-only``).
    leaks_only: bool = False

    def texts(self) -> Iterator[str]:
        """Every recorded text a secret could hide in."""
        yield self.url
        yield from self.request_headers.values()
        yield from self.response_headers.values()
        for body in (self.request_body, self.response_body):
            if body.text:
                yield body.text

    @property
    def origin(self) -> str | None:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None

    def entry(self, hop: Hop) -> JournalEntry:
        """As a hop journal would have recorded it: secrets masked, a placeholder read as a masked key."""
        def clean(text: str) -> str:
            return redact(from_placeholders(text))

        parts = urlsplit(self.url)
        request, response = self.request_body, self.response_body
        return JournalEntry(
            seq=self.index, hop=hop, started_at=self.started_at or time.time(), method=self.method.upper(),
            path=clean(parts.path or "/"), raw_path=clean(parts.path or "/"), trace=self.trace,
            query=[(k, clean(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
            request_headers={k: clean(v) for k, v in self.request_headers.items()},
            request_body=clean(request.text) if request.text is not None else None,
            request_body_size=request.kept_size, status=self.status,
            response_headers={k: clean(v) for k, v in self.response_headers.items()},
            response_body=clean(response.text) if response.text is not None else None,
            response_body_size=response.kept_size, elapsed_ms=self.elapsed_ms, error=self.error,
            fault=self.fault,
        )


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line or entry of a capture that holds no exchange: why, to say in one line."""

    index: int
    reason: str
