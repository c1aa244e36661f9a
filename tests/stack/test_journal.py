"""The hop journal records what crosses a hop, masks credentials and injects faults."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx

from hokusai_contracts.stack.journal import create_journal, read_journal

KEY = "hk_live_" + "j" * 28 + "WXYZ"


def streamed(status: int, body: bytes, **headers: str) -> httpx.Response:
    """A response as the network gives it: not yet read (``json=`` responses are pre-read)."""
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _echo(request: httpx.Request) -> httpx.Response:
    return streamed(201, b'{"ok":true}', **{"x-upstream": "yes", "content-type": "application/json"})


async def _send(journal_file: Path, method: str, path: str, *, fault: dict[str, object] | None = None,
                **kwargs: object) -> httpx.Response:
    app = create_journal("http://upstream", "proxy->mlflow", journal_file, transport=httpx.MockTransport(_echo))
    async with app.router.lifespan_context(app):
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
                                                                     [("a", "1")], 201)
    assert entry.request_body == '{"experiment_id":"1"}'
    assert entry.response_body == '{"ok":true}'
    assert entry.credentials == []


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
    assert entry.request_body is None
    assert entry.request_body_size == len(payload)
    assert entry.request_body_sha256 == hashlib.sha256(payload).hexdigest()
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
    assert entry.query == [("name", "a\u2028b\x85c\rd")]
