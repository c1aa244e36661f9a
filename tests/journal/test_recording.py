"""The hop journal records what crosses a hop, masks credentials and injects faults."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import ValidationError

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.faults import ConnectionDropped
from hokusai_contracts.journal.lines import parse_journal_line, read_journal
from hokusai_contracts.journal.recording import HopJournal

KEY = "hk_live_" + "j" * 28 + "WXYZ"


def streamed(status: int, body: bytes, **headers: str) -> httpx.Response:
    """A response as the network gives it: not yet read (``json=`` responses are pre-read)."""
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _echo(request: httpx.Request) -> httpx.Response:
    return streamed(201, b'{"ok":true}', **{"x-upstream": "yes", "content-type": "application/json"})


async def _send(journal_file: Path, method: str, path: str, *, fault: dict[str, object] | None = None,
                **kwargs: object) -> httpx.Response:
    app = HopJournal("http://upstream", "proxy->mlflow", journal_file, transport=httpx.MockTransport(_echo))
    async with app.running():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://journal") as client:
            if fault:
                await client.post("/__journal__/fault", json=fault)
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_records_the_exchange_and_passes_the_answer_through(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    response = asyncio.run(_send(out, "POST", "/api/2.0/mlflow/runs/create?a=1", json={"experiment_id": "1"}))
    assert response.status_code == 201 and response.headers["x-upstream"] == "yes"
    (entry,) = read_journal(out)
    assert (entry.method, entry.path, entry.query, entry.status) == ("POST", "/api/2.0/mlflow/runs/create",
                                                                     (("a", "1"),), 201)
    assert entry.request_body.text == '{"experiment_id":"1"}'
    assert entry.response_body.text == '{"ok":true}'
    assert entry.credentials == ()


def test_every_entry_names_its_hop_as_a_hop(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    asyncio.run(_send(out, "GET", "/x"))
    (entry,) = read_journal(out)
    assert entry.hop is Hop.PROXY_TO_MLFLOW
    assert '"hop":"proxy->mlflow"' in out.read_text("utf-8")  # the file format is unchanged


def test_a_journal_on_an_unknown_hop_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="proxy->nowhere"):
        HopJournal("http://upstream", "proxy->nowhere", tmp_path / "j.jsonl")
    with pytest.raises(ValidationError):
        parse_journal_line('{"seq": 1, "hop": "client->test", "started_at": 0.0, "method": "GET", "path": "/"}')


def test_masks_and_reports_credentials_everywhere(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    asyncio.run(_send(out, "POST", f"/x?token={KEY}", headers={"Authorization": f"Bearer {KEY}"},
                      json={"nested": {"token": KEY}}))
    text = out.read_text()
    assert KEY not in text
    (entry,) = read_journal(out)
    assert {c.location for c in entry.credentials} == {"header.authorization", "query.token", "body.nested.token"}
    assert all(c.masked == "hk_live_jj...WXYZ" for c in entry.credentials)


def test_large_bodies_are_summarised_not_stored(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    payload = b"x" * 200_000 + KEY.encode() + b"y" * 10
    asyncio.run(_send(out, "PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b", content=payload))
    (entry,) = read_journal(out)
    assert entry.request_body.text is None
    assert entry.request_body.size == len(payload)
    assert entry.request_body.sha256 == hashlib.sha256(payload).hexdigest()
    assert [c.location for c in entry.credentials] == ["body"]


def test_injected_error_fault(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    response = asyncio.run(_send(out, "GET", "/health", fault={"mode": "error"}))
    assert response.status_code == 500
    (entry,) = read_journal(out)
    assert entry.fault == "error"


def test_values_with_unicode_line_separators_survive_the_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "j.jsonl"
    asyncio.run(_send(out, "GET", "/x", params={"name": "a\u2028b\x85c\rd"}))
    (entry,) = read_journal(out)
    assert entry.query == (("name", "a\u2028b\x85c\rd"),)


# --- the drop fault: the connection cut mid-upload or before the answer ------------------------

DROP_AFTER = 64 * 1024


@pytest.mark.parametrize(
    ("size", "error"),
    [
        (DROP_AFTER * 4, f"injected fault: drop after {DROP_AFTER} bytes of the request body"),
        (1000, "injected fault: drop before the answer (201 from upstream)"),
    ],
)
def test_drop_fault_in_process_raises_where_no_connection_can_be_cut(tmp_path: Path, size: int, error: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        # Chunks of DROP_AFTER bytes, so the cut lands exactly on the threshold.
        for _ in range(size // DROP_AFTER):
            yield b"x" * DROP_AFTER

    body = chunks() if size >= DROP_AFTER else b"x" * size
    out = tmp_path / "j.jsonl"
    with pytest.raises(ConnectionDropped):
        asyncio.run(_send(out, "PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b", content=body,
                          fault={"mode": "drop", "drop_after_bytes": DROP_AFTER}))
    (entry,) = read_journal(out)
    assert (entry.fault, entry.status, entry.error) == ("drop", None, error)
    assert entry.request_body.size == min(size, DROP_AFTER)


@contextmanager
def served(app: HopJournal) -> Iterator[str]:
    """The app behind a real uvicorn on a free port: a drop needs a TCP connection to cut."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.parametrize(("method", "size"), [("PUT", 8 * 1024 * 1024), ("GET", 0)])
def test_drop_fault_resets_the_callers_connection_without_a_status(tmp_path: Path, method: str, size: int) -> None:
    upstream_got: list[str] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        # MockTransport reads the whole body before calling this: a cut upload never gets here.
        upstream_got.append(f"{request.method} {len(request.content)}")
        return streamed(200, b"{}")

    out = tmp_path / "j.jsonl"
    app = HopJournal("http://upstream", "proxy->mlflow", out, transport=httpx.MockTransport(upstream))
    with served(app) as url:
        httpx.post(url + "/__journal__/fault", json={"mode": "drop", "drop_after_bytes": 256 * 1024})
        started = time.monotonic()
        with pytest.raises(httpx.TransportError):
            httpx.request(method, url + "/api/2.0/mlflow-artifacts/artifacts/a/b", content=b"x" * size, timeout=10)
        assert time.monotonic() - started < 5
        # The journal itself survives its fault: mended, it forwards again.
        httpx.post(url + "/__journal__/fault", json={"mode": "none"})
        assert httpx.get(url + "/api/2.0/mlflow/experiments/search", timeout=10).status_code == 200
    dropped, passed = read_journal(out)
    assert dropped.fault == "drop" and dropped.status is None and passed.status == 200
    if size:
        assert upstream_got == ["GET 0"]  # the upstream's upload broke off too: it never got a whole body
        assert 256 * 1024 <= dropped.request_body.size < size
    else:
        assert upstream_got == ["GET 0", "GET 0"] and "before the answer" in (dropped.error or "")


def test_paths_holding_a_newline_are_forwarded(tmp_path: Path) -> None:
    # Starlette's "/{path:path}" would not match this path and answer its own text/plain 404.
    answer = asyncio.run(_send(tmp_path / "j.jsonl", "GET", "/api/2.0/mlflow/logged-models/%0A0"))
    assert answer.status_code == 201 and answer.json() == {"ok": True}
    (entry,) = read_journal(tmp_path / "j.jsonl")
    assert entry.status == 201
    # Recorded whole: Starlette's request.url.path would have dropped the line break, and the
    # request would have been judged as if the client had sent a valid id.
    assert (entry.path, entry.raw_path) == ("/api/2.0/mlflow/logged-models/\n0", "/api/2.0/mlflow/logged-models/%0A0")


def test_a_decoded_question_mark_or_hash_stays_in_the_path(tmp_path: Path) -> None:
    asyncio.run(_send(tmp_path / "j.jsonl", "GET", "/api/2.0/mlflow-artifacts/artifacts/a%3Fb%23c%09d?x=1"))
    (entry,) = read_journal(tmp_path / "j.jsonl")
    assert (entry.path, entry.query) == ("/api/2.0/mlflow-artifacts/artifacts/a%3Fb%23c\td", (("x", "1"),))
