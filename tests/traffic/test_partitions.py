"""Partitions: a line of JSON is read once, by the partition it starts in, however the file is cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.traffic.partitions import PartitionReader, plan_partitions
from hokusai_contracts.traffic.reading import Format
from hokusai_contracts.traffic.sources import resolve_sources

LINE = '{"method": "GET", "url": "http://mlflow.internal/api/2.0/mlflow/experiments/get?experiment_id=%d"}\n'


@pytest.mark.parametrize("chunk", [1, 7, 100, 101, 102, 250, 10_000])
def test_every_line_is_read_once_by_the_partition_it_starts_in(tmp_path: Path, chunk: int) -> None:
    text = "".join(LINE % n for n in range(1, 40)) + "\n" + LINE.rstrip("\n") % 40  # a blank line, no last newline
    (tmp_path / "c.ndjson").write_text(text)
    [source] = resolve_sources([tmp_path / "c.ndjson"])
    parts = plan_partitions([source], chunk)
    assert parts[0].start == 0 and parts[-1].end == source.size
    seen, lines = [], 0
    for part in parts:
        reader = PartitionReader(part)
        for located in reader:
            assert isinstance(located.item, HttpExchange) and part.start <= located.place[1] < part.end
            assert text[located.place[1]:].startswith('{"method"')
            seen.append(int(located.item.url.rsplit("=", 1)[1]))
        lines += reader.lines
    assert seen == list(range(1, 41)) and lines == 41


def test_a_har_is_one_partition_and_folders_and_globs_resolve_to_sorted_files(tmp_path: Path) -> None:
    (tmp_path / "b.har").write_text('{"log": {"entries": [{"request": {"method": "GET", "url": "http://a/"}}]}}')
    (tmp_path / "a.ndjson").write_text(LINE % 1)
    (tmp_path / ".hidden").write_text("not a capture")
    sources = resolve_sources([tmp_path])
    assert [s.name for s in sources] == ["a.ndjson", "b.har"]
    assert [s.format for s in sources] == [Format.NDJSON, Format.HAR]
    parts = plan_partitions(sources, 10)
    assert len(parts) == 11 and parts[-1].source.name == "b.har"
    assert (parts[-1].start, parts[-1].end) == (0, parts[-1].source.size)
    assert [s.name for s in resolve_sources([str(tmp_path / "*.har"), tmp_path / "b.har"])] == ["b.har"]
