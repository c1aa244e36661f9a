"""Reading captures: HAR, journal JSONL, NDJSON, told apart by content; bad input refused in one line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.exchange import TEXT_BODY_LIMIT, Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.lines import journal_line
from hokusai_contracts.traffic.reading import Format, detect_format, read_traffic
from hokusai_contracts.traffic.records import Unreadable, as_judged


def _har(entries: list[dict[str, object]], pretty: bool = True) -> str:
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": entries}},
                      indent=2 if pretty else None)


def _entry(url: str = "https://registry.example/api/mlflow/api/2.0/mlflow/experiments/get?experiment_id=1",
           status: int = 200, **extra: object) -> dict[str, object]:
    return {"startedDateTime": "2026-01-01T00:00:00Z", "time": 12.5,
            "request": {"method": "GET", "url": url, "headers": [{"name": "Accept", "value": "*/*"}]},
            "response": {"status": status, "headers": [{"name": "Content-Type", "value": "application/json"}],
                         "content": {"size": 2, "mimeType": "application/json", "text": "{}"}}, **extra}


def _all(path: Path) -> list[HttpExchange | Unreadable]:
    return list(read_traffic(path))


def test_a_har_is_read_entry_by_entry_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "capture.txt"  # the content says HAR, not the name
    path.write_text(_har([_entry(), _entry(status=0, _hop="client->proxy")]))
    assert detect_format(path) is Format.HAR
    first, second = _all(path)
    assert isinstance(first, HttpExchange) and isinstance(second, HttpExchange)
    assert (first.seq, first.method, first.status, first.elapsed_ms) == (1, "GET", 200, 12.5)
    assert first.request_headers == {"Accept": "*/*"} and first.response_body.text == "{}"
    assert first.origin == "https://registry.example"
    assert (second.status, second.error, second.hop) == (None, "no answer", Hop.CLIENT_TO_PROXY)


def test_a_one_line_har_and_base64_bodies(tmp_path: Path) -> None:
    entry = _entry()
    entry["response"]["content"] = {"size": 7, "text": base64.b64encode(b'{"a":1}').decode(),  # type: ignore[index]
                                    "encoding": "base64"}
    path = tmp_path / "one.har"
    path.write_text(_har([entry], pretty=False))
    assert detect_format(path) is Format.HAR
    (item,) = _all(path)
    assert isinstance(item, HttpExchange) and item.response_body.text == '{"a":1}'


def test_journal_jsonl_keeps_hop_and_sizes(tmp_path: Path) -> None:
    entry = HttpExchange(seq=1, hop=Hop.PROXY_TO_AUTH, started_at=1.0, method="POST", path="/api/v1/keys/validate",
                         query=(("a", "b"),), request_body=Body(None, 10), status=200)
    path = tmp_path / "journal.log"
    path.write_text(journal_line(entry) + "\n\n" + journal_line(entry) + "\n")
    assert detect_format(path) is Format.JOURNAL
    items = _all(path)
    assert len(items) == 2
    assert isinstance(items[0], HttpExchange)
    assert (items[0].hop, items[0].url, items[0].request_body.size) == (Hop.PROXY_TO_AUTH,
                                                                       "/api/v1/keys/validate?a=b", 10)


def test_ndjson_lines_with_json_bodies_and_unreadable_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.ndjson"
    path.write_text("\n".join([
        json.dumps({"method": "POST", "url": "/api/v1/keys/validate", "status": 200,
                    "headers": {"content-type": "application/json"}, "body": {"api_key": "x"}}),
        "{not json",
        json.dumps({"method": "GET", "url": "/x", "status": 404, "body": "é" * TEXT_BODY_LIMIT}),
    ]) + "\n")
    assert detect_format(path) is Format.NDJSON
    first, bad, big = _all(path)
    assert isinstance(first, HttpExchange) and first.request_body.text == '{"api_key": "x"}'
    # No response body in the line: not recorded, so not judged as an empty one.
    assert not first.response_body.recorded and as_judged(first, Hop.PROXY_TO_AUTH).response_body.omitted
    assert isinstance(bad, Unreadable) and bad.index == 2 and "line 2" in bad.reason
    assert isinstance(big, HttpExchange) and big.request_body.text is None and big.request_body.size > TEXT_BODY_LIMIT


@pytest.mark.parametrize("content", [b"hello\n", b"\x89PNG\r\n\x1a\n\x00\x00", b"[1, 2]\n", b'{"a": 1}\n', b""],
                         ids=["text", "binary", "json-array", "json-without-exchange", "empty"])
def test_anything_else_is_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "capture.har"
    path.write_bytes(content)
    with pytest.raises(UsageError) as refused:
        detect_format(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)


def test_a_broken_har_is_refused_after_what_it_read(tmp_path: Path) -> None:
    path = tmp_path / "cut.har"
    path.write_text(_har([_entry(), _entry()])[:-80])
    with pytest.raises(UsageError, match="not valid JSON after entry"):
        _all(path)


def test_a_har_entry_without_a_request_is_unreadable_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "odd.har"
    path.write_text(_har([{"response": {"status": 200}}, _entry()]))
    odd, good = _all(path)
    assert isinstance(odd, Unreadable) and "entry 1" in odd.reason
    assert isinstance(good, HttpExchange)
