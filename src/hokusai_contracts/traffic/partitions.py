"""A capture cut into partitions that can be judged apart: JSON lines by byte range, a HAR whole.

A partition of a JSONL or NDJSON file owns the lines that *start* in its byte range
``[start, end)``: it skips the line it lands inside (the previous partition owns it) and reads
past ``end`` to finish the last line it started, so every line is read once, by one partition,
whatever the ranges. A HAR is one JSON document: it is one partition, streamed entry by entry.
Each exchange comes with its place, ``(file, byte offset)`` (a HAR entry: its number), which is
how the evidence a finding keeps is chosen the same way whatever the partitioning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.traffic.reading import Format, parse_har, parse_line
from hokusai_contracts.traffic.records import Unreadable
from hokusai_contracts.traffic.sources import Source, open_source

__all__ = ["Located", "Partition", "PartitionReader", "Place", "plan_partitions"]

#: Where an exchange was in the captures: (the file's place among them, its byte offset or HAR entry number).
Place = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Partition:
    """Part of a capture, judged as one task: bytes ``[start, end)`` of ``source`` (a HAR: all of it)."""

    source: Source
    #: The file's place among the captures judged: the first key of every exchange's place.
    file: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Located:
    """An exchange (or an unreadable line) and its place; ``line`` counts from the partition's start."""

    place: Place
    line: int
    item: HttpExchange | Unreadable


def plan_partitions(sources: list[Source], chunk_bytes: int) -> list[Partition]:
    """Each file cut into ranges of about ``chunk_bytes`` (a HAR, and an empty file: one partition)."""
    parts: list[Partition] = []
    for number, source in enumerate(sources):
        if source.format is Format.HAR or source.size <= chunk_bytes:
            parts.append(Partition(source, number, 0, source.size))
            continue
        starts = range(0, source.size, max(chunk_bytes, 1))
        parts += [Partition(source, number, start, min(start + chunk_bytes, source.size)) for start in starts]
    return parts


class PartitionReader:
    """Iterate for the partition's exchanges in file order; then ``lines`` is how many lines it owned."""

    def __init__(self, part: Partition) -> None:
        self.part = part
        self.lines = 0

    def __iter__(self) -> Iterator[Located]:
        part = self.part
        with open_source(part.source.url) as handle:
            if part.source.format is Format.HAR:
                for item in parse_har(handle, part.source.name):
                    number = item.index if isinstance(item, Unreadable) else item.seq
                    yield Located((part.file, number), number, item)
            else:
                yield from self._lines(handle)

    def _lines(self, handle: IO[bytes]) -> Iterator[Located]:
        part, offset = self.part, self.part.start
        if offset > 0:
            # The line under `start` belongs to the partition it started in, unless it starts right here.
            handle.seek(offset - 1)
            offset += len(handle.readline()) - 1
        for raw in _raw_lines(handle):
            if offset >= part.end:
                break
            self.lines += 1
            if raw.strip():
                yield Located((part.file, offset), self.lines, parse_line(raw, part.source.format, self.lines))
            offset += len(raw)


def _raw_lines(handle: IO[bytes]) -> Iterator[bytes]:
    # Split on b"\n" only: JSON leaves U+2028 unescaped, which a text-mode reader takes for a line end.
    while True:
        raw = handle.readline()
        if not raw:
            return
        yield raw
