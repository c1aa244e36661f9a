"""Writing HAR: valid HAR 1.2, streamed, read back as written; the key never in the file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import forget_secrets, mask, register_secrets
from hokusai_contracts.journal.lines import journal_line
from hokusai_contracts.traffic.har import TrafficRecorder, write_journal_har
from hokusai_contracts.traffic.reading import Format, detect_format, read_traffic
from hokusai_contracts.traffic.secrets import OTHER_PLACEHOLDER, PLACEHOLDER

KEY = "hk_live_" + "Q1w2E3r4" * 4
REVOKED = "hk_live_" + "R5t6Y7u8" * 4


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def _journal(tmp_path: Path) -> Path:
    # As a hop journal records: the key already masked.
    entries = [
        HttpExchange(seq=1, hop=Hop.PROXY_TO_AUTH, started_at=1_700_000_000.0, method="POST",
                     path="/api/v1/keys/validate", request_headers={"content-type": "application/json"},
                     request_body=Body(f'{{"api_key": "{mask(KEY)}", "service_id": "platform"}}', 60),
                     status=200, response_headers={"content-type": "application/json"},
                     response_body=Body('{"is_valid": true}', 18), elapsed_ms=3.2),
        HttpExchange(seq=2, hop=Hop.PROXY_TO_AUTH, started_at=1_700_000_001.0, method="POST",
                     path="/api/v1/keys/validate", request_headers={"authorization": f"Bearer {mask(REVOKED)}"},
                     request_body=Body(None, 100_000), status=401, fault="slow"),
    ]
    path = tmp_path / "auth-journal.jsonl"
    path.write_text("".join(journal_line(e) + "\n" for e in entries))
    return path


def test_a_journal_becomes_a_har_per_hop_with_placeholders(tmp_path: Path) -> None:
    written = write_journal_har(_journal(tmp_path), Hop.PROXY_TO_AUTH, "http://127.0.0.1:8001", tmp_path, KEY,
                                leaks_only_after=1)
    assert written == tmp_path / "traffic" / "proxy-auth.har"
    text = written.read_text("utf-8")
    har = json.loads(text)
    assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 2
    first, second = har["log"]["entries"]
    assert first["request"]["url"] == "http://127.0.0.1:8001/api/v1/keys/validate"
    assert PLACEHOLDER in first["request"]["postData"]["text"] and first["_hop"] == "proxy->auth"
    assert second["request"]["headers"] == [{"name": "authorization", "value": f"Bearer {OTHER_PLACEHOLDER}"}]
    assert (second["_fault"], second["_judge"], second["request"]["bodySize"]) == ("slow", "leaks-only", 100_000)
    for secret in (KEY, mask(KEY), REVOKED, mask(REVOKED), KEY[:10]):
        assert secret not in text

    assert detect_format(written) is Format.HAR
    back = [item for item in read_traffic(written) if isinstance(item, HttpExchange)]
    assert [(r.hop, r.status, r.fault, r.leaks_only) for r in back] == [
        (Hop.PROXY_TO_AUTH, 200, None, False), (Hop.PROXY_TO_AUTH, 401, "slow", True)]
    assert back[1].request_body.text is None and back[1].request_body.size == 100_000


def test_a_live_recording_never_stores_the_key_it_was_given_whole(tmp_path: Path) -> None:
    register_secrets(KEY)
    recorder = TrafficRecorder(tmp_path, KEY)
    writer = recorder.writer(Hop.CLIENT_TO_PROXY)
    assert recorder.writer(Hop.CLIENT_TO_PROXY) is writer
    recorder.add(HttpExchange(
        "GET", "/api/mlflow/x", hop=Hop.CLIENT_TO_PROXY, origin="https://registry.example", raw_query=f"api_key={KEY}",
        request_headers={"Authorization": f"Bearer {KEY}"}, request_body=Body.of_bytes(b""), status=401,
        response_body=Body.of_bytes(f'{{"echo": "{KEY}"}}'.encode()), elapsed_ms=1.0, started_at=1_700_000_000.0))
    recorder.writer(Hop.CLIENT_TO_AUTH)
    paths = recorder.close()
    writer.add(HttpExchange("GET", "/", hop=Hop.CLIENT_TO_PROXY, origin="https://late", status=200, started_at=0.0))
    assert sorted(p.name for p in paths) == ["client-auth.har", "client-proxy.har"]
    text = (tmp_path / "traffic" / "client-proxy.har").read_text("utf-8")
    assert KEY not in text and KEY[:10] not in text and "https://late" not in text
    entry = json.loads(text)["log"]["entries"][0]
    assert entry["request"]["queryString"] == [{"name": "api_key", "value": PLACEHOLDER}]
    assert json.loads((tmp_path / "traffic" / "client-auth.har").read_text())["log"]["entries"] == []


def test_binary_and_large_bodies_are_kept_by_size_only() -> None:
    assert Body.of_bytes(b"\xff\xfe").text is None and Body.of_bytes(b"x" * 70_000).text is None
    assert Body.of_bytes(b"x" * 70_000).size == 70_000 and Body.of_bytes(b"ok").text == "ok"
