"""One HTTP exchange as recorded: the record every layer passes on, from the journal to the judge.

A hop journal writes it (one JSON line, ``journal.lines``), a HAR writer writes it
(``traffic.har``), a capture reads back into it (``traffic.reading``), the judge judges it
(``journal.judging``), the live gate hands it to its listener (``safety.gate``) and a replay
resends it (``checks.replay``). Nothing converts it into another model on the way: a layer that
needs it otherwise (masked for judging, with the receiver's origin for a HAR) makes a changed copy
(``dataclasses.replace``). Frozen, slotted and picklable, so it can travel between processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from hokusai_contracts.domain.findings import Exchange
from hokusai_contracts.domain.hops import Hop

__all__ = ["TEXT_BODY_LIMIT", "Body", "CredentialSighting", "HttpExchange"]

#: Bodies up to this size are kept (redacted) as text; larger ones only by size and digest.
TEXT_BODY_LIMIT = 64 * 1024
#: How much of an answer's body a finding's evidence shows.
_EVIDENCE_BODY = 300


@dataclass(frozen=True, slots=True)
class Body:
    """A message body as recorded: its text when small and text at all, else only its size (and digest)."""

    text: str | None = None
    size: int = 0
    #: The hex SHA-256 of the bytes, where the recorder took it (a hop journal's request bodies).
    sha256: str | None = None
    #: False when the capture does not record this body at all (an access log): it is not judged,
    #: as a hop journal's body too large to keep is not, rather than taken for an empty one.
    recorded: bool = True

    @property
    def kept_size(self) -> int:
        """The size to judge by: a body not recorded counts as sent and not kept."""
        return self.size if self.recorded else max(self.size, 1)

    @property
    def omitted(self) -> bool:
        """Sent, but not kept as text (too large, not UTF-8, not recorded): only its media type can be judged."""
        return self.text is None and self.kept_size > 0

    @classmethod
    def of(cls, text: str | None, size: int | None = None) -> Body:
        """A body a capture gives as text (``None`` or ``""``: none was sent)."""
        if text is None or text == "":
            return cls(None, size or 0)
        length = len(text.encode("utf-8")) if size is None else size
        return cls(text if length <= TEXT_BODY_LIMIT else None, length)

    @classmethod
    def of_bytes(cls, content: bytes) -> Body:
        """A body as sent: its text when small and UTF-8, its size and digest always."""
        if not content:
            return cls()
        text: str | None = None
        if len(content) <= TEXT_BODY_LIMIT:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        return cls(text, len(content), hashlib.sha256(content).hexdigest())


@dataclass(frozen=True, slots=True)
class CredentialSighting:
    """A key the journal saw go by: where (``header.Authorization``, ``body.token``) and masked."""

    location: str
    masked: str


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One request and what came back (``status`` None: no answer), as recorded on one hop.

    The dictionaries are never changed after the record is made: a changed record is a copy.
    """

    method: str
    #: The path, percent-decoded (a journal) or as the capture wrote it; no query.
    path: str
    #: 1-based place in the journal or the capture (a line of JSONL/NDJSON, an entry of a HAR).
    seq: int = 0
    #: The edge it was recorded on, where the recorder knows it.
    hop: Hop | None = None
    #: Seconds since the epoch, when the request arrived (if recorded).
    started_at: float | None = None
    #: The path as it came on the wire, percent-encoding untouched.
    raw_path: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    #: The query string as on the wire, where the capture keeps it (else ``query`` is joined).
    raw_query: str | None = None
    #: ``scheme://host[:port]`` of the receiver, where recorded (an absolute URL of a capture).
    origin: str | None = None
    #: The correlation id this request carried (or, on the journal that adds it, was given).
    trace: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: Body = Body()
    #: Keys the journal saw in the request (it scans bodies too large to keep while they stream).
    credentials: tuple[CredentialSighting, ...] = ()
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Body = Body()
    elapsed_ms: float | None = None
    error: str | None = None
    #: A fault the run injected on purpose: not judged (the sender did nothing wrong).
    fault: str | None = None
    #: Judged for credential leaks only, as the run judged it (fuzzed traffic through the proxy).
    leaks_only: bool = False

    @property
    def ended_at(self) -> float | None:
        """Seconds since the epoch when the answer was complete (if both times were recorded)."""
        if self.started_at is None or self.elapsed_ms is None:
            return None
        return self.started_at + self.elapsed_ms / 1000

    def spans(self, moment: float | None) -> bool:
        """Whether ``moment`` (epoch seconds) fell while this exchange was under way."""
        start, end = self.started_at, self.ended_at
        if moment is None or start is None or end is None:
            return False
        return start <= moment <= end

    @property
    def query_string(self) -> str:
        if self.raw_query is not None:
            return self.raw_query
        return "&".join(f"{k}={v}" for k, v in self.query)

    def target(self, *, raw: bool = True) -> str:
        """The request target: the path (as on the wire, or decoded) and the query."""
        path = (self.raw_path or self.path) if raw else self.path
        query = self.query_string
        return path + (f"?{query}" if query else "")

    @property
    def url(self) -> str:
        """Absolute where the origin is known, else the request target."""
        return (self.origin or "") + self.target()

    def texts(self) -> Iterator[str]:
        """Every recorded text a secret could hide in."""
        yield self.url
        yield from self.request_headers.values()
        yield from self.response_headers.values()
        for body in (self.request_body, self.response_body):
            if body.text:
                yield body.text

    def evidence(self, *, raw_path: bool = False, answer: bool = True) -> Exchange:
        """What a finding shows of it (the report's ``Exchange``, redacted there)."""
        if not answer:
            return Exchange(method=self.method, url=self.target(raw=raw_path), request_headers=self.request_headers,
                            request_body=self.request_body.text, status=self.status)
        return Exchange(
            method=self.method, url=self.target(raw=raw_path), request_headers=self.request_headers,
            request_body=self.request_body.text, status=self.status, response_headers=self.response_headers,
            response_body=(self.response_body.text or "")[:_EVIDENCE_BODY] or None, elapsed_ms=self.elapsed_ms,
            error=self.error,
        )
