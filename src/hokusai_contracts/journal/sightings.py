"""What a hop journal keeps of a message as it streams by: its body, and the keys it carries.

A body is kept as redacted text when small, otherwise by size and SHA-256; keys are looked for in
every chunk (also across two chunks), so a key in a body too large to keep is still seen.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

from hokusai_contracts.domain.exchange import TEXT_BODY_LIMIT, Body, CredentialSighting
from hokusai_contracts.domain.redact import KEY_PATTERN, mask, redact

__all__ = ["BodyRecorder", "sightings_in"]

_BEARER_OR_KEY = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
# A key split across two chunks of a streamed body must still be seen.
_OVERLAP = 64


def sightings_in(values: Iterable[tuple[str, str]], where: str) -> list[CredentialSighting]:
    """Keys in named values (headers, query parameters): ``where.name`` for each, masked."""
    return [CredentialSighting(location=f"{where}.{name}", masked=mask(found))
            for name, value in values for found in _BEARER_OR_KEY.findall(value)]


def _body_location(text: str, found: str) -> str:
    """Name the JSON field holding a key, so a leak reads ``body.token``, not just ``body``."""
    try:
        document = json.loads(text)
    except ValueError:
        return "body"

    def walk(value: Any, where: str) -> str | None:
        if isinstance(value, str) and found in value:
            return where
        if isinstance(value, dict):
            for k, v in value.items():
                hit = walk(v, f"{where}.{k}")
                if hit:
                    return hit
        if isinstance(value, list):
            for i, v in enumerate(value):
                hit = walk(v, f"{where}[{i}]")
                if hit:
                    return hit
        return None

    return walk(document, "body") or "body"


class BodyRecorder:
    """Streams a body through while keeping its digest, its size, a text copy if small, and keys seen."""

    def __init__(self) -> None:
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = bytearray()
        self.tail = b""
        self.keys: set[str] = set()

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)
        if len(self.head) <= TEXT_BODY_LIMIT:
            self.head.extend(chunk[: TEXT_BODY_LIMIT + 1 - len(self.head)])
        window = (self.tail + chunk).decode("latin-1")
        self.keys.update(KEY_PATTERN.findall(window))
        self.tail = chunk[-_OVERLAP:]

    async def through(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` unchanged, each fed to the recorder on its way."""
        async for chunk in chunks:
            self.feed(chunk)
            yield chunk

    def text(self) -> str | None:
        if self.size == 0 or self.size > TEXT_BODY_LIMIT:
            return None
        try:
            return redact(bytes(self.head).decode("utf-8"))
        except UnicodeDecodeError:
            return None

    def body(self, *, digest: bool) -> Body:
        """The body as recorded: text when small, size, and (``digest``) its SHA-256 when not empty."""
        return Body(self.text(), self.size, self.digest.hexdigest() if digest and self.size else None)

    def sightings(self) -> list[CredentialSighting]:
        raw = bytes(self.head).decode("latin-1") if self.size <= TEXT_BODY_LIMIT else ""
        return [CredentialSighting(location=_body_location(raw, key), masked=mask(key)) for key in sorted(self.keys)]
