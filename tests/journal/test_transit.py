"""What a client sent the proxy against what reached MLflow: each change a finding, the documented ones not.

The chain is real, in process: the tracing journal in front of a small proxy (an ASGI app that
strips the mount, drops the caller's credentials, adds an ``X-Hokusai-*`` header, and then makes
the one change a row asks for) and the journal in front of an echoing MLflow.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.journal.recording import TRACE_HEADER, HopJournal
from hokusai_contracts.journal.transit import compare_transit

ROOT = Path(__file__).resolve().parents[2]
MOUNT = "/api/mlflow"
KEY = "hk_live_" + "t" * 28 + "QRST"
# (method, raw path, query, headers, body) -> the same, as the proxy forwards it
Change = Callable[[str, bytes, bytes, list[tuple[bytes, bytes]], bytes],
                  tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]]


def unchanged(method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
              ) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    return method, path, query, headers, body


def proxy(upstream: httpx.AsyncBaseTransport, change: Change, *, strip_unknown: bool = False
          ) -> Callable[[Scope, Receive, Send], object]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw = scope["raw_path"].removeprefix(MOUNT.encode())
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"host", b"content-length")
                   and not (strip_unknown and k.startswith(b"x-"))]
        headers.append((b"x-hokusai-caller", b"svc"))
        query = urlencode([(k, v) for k, v in parse_qsl(scope["query_string"].decode(), keep_blank_values=True)
                           if k != "api_key"]).encode()
        method, raw, query, headers, body = change(scope["method"], raw, query, headers, body)
        async with httpx.AsyncClient(transport=upstream) as client:
            url = httpx.URL("http://mlflow").copy_with(raw_path=raw + (b"?" + query if query else b""))
            answer = await client.request(method, url, headers=headers, content=body)
        await send({"type": "http.response.start", "status": answer.status_code, "headers": []})
        await send({"type": "http.response.body", "body": answer.content})

    return app


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(b"{}"))


def journals(tmp_path: Path, change: Change, requests: list[tuple[str, str, bytes | None]], *,
             strip_unknown: bool = False) -> tuple[list[HttpExchange], list[HttpExchange]]:
    """Send ``requests`` through the chain; the two journals' entries."""
    mlflow_file, client_file = tmp_path / "mlflow.jsonl", tmp_path / "client.jsonl"
    mlflow = HopJournal("http://mlflow", Hop.PROXY_TO_MLFLOW, mlflow_file, transport=httpx.MockTransport(_echo))
    the_proxy = proxy(httpx.ASGITransport(app=mlflow), change, strip_unknown=strip_unknown)
    front = HopJournal("http://proxy", Hop.CLIENT_TO_PROXY, client_file,
                           transport=httpx.ASGITransport(app=the_proxy), add_trace=True)  # type: ignore[arg-type]

    async def run() -> None:
        async with mlflow.running(), front.running():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=front), base_url="http://front") as client:
                for method, url, body in requests:
                    await client.request(method, url, content=body,
                                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})

    asyncio.run(run())
    return read_journal(client_file), read_journal(mlflow_file)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT)


SEARCH = f"{MOUNT}/api/2.0/mlflow/registered-models/search?order_by=name+ASC&order_by=last_updated_timestamp+DESC"
DELETE = (b'{"name": "m", "version": "1"}')
TRAFFIC = [("GET", SEARCH, None), ("DELETE", f"{MOUNT}/api/2.0/mlflow/model-versions/delete", DELETE),
           ("GET", f"{MOUNT}/api/2.0/mlflow-artifacts/artifacts/a%2Fb%0Ac?api_key={KEY}", None),
           ("GET", f"{MOUNT}/api/2.0/mlflow/experiments/search?max_results=5&max_results=6", None)]


def _last_value_only(method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
                     ) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    return method, path, urlencode(dict(parse_qsl(query.decode()))).encode(), headers, body


def _no_delete_body(method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
                    ) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    return method, path, query, headers, b"" if method == "DELETE" else body


def _decoded_slash(method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
                   ) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    return method, path.replace(b"%2F", b"/"), query, headers, body


def _post_for_delete(method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
                     ) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    return "POST" if method == "DELETE" else method, path, query, headers, body


def _json_rewritten(method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
                    ) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    # Parsed and written again: not one field changes, so not an alteration.
    return method, path, query, headers, json.dumps(json.loads(body), separators=(",", ":")).encode() if body else body


@pytest.mark.parametrize(("change", "found"), [
    (unchanged, set()),
    (_json_rewritten, set()),
    (_last_value_only, {("GET /api/2.0/mlflow/registered-models/search", "query.order_by"),
                        ("GET /api/2.0/mlflow/experiments/search", "query.max_results")}),
    (_no_delete_body, {("DELETE /api/2.0/mlflow/model-versions/delete", "body")}),
    (_decoded_slash, {("GET /api/2.0/mlflow-artifacts/artifacts/{path}", "path")}),
    (_post_for_delete, {("POST /api/2.0/mlflow/model-versions/delete", "method")}),
], ids=["unchanged", "json rewritten", "repeated parameter collapsed", "DELETE body dropped", "%2F decoded",
        "method changed"])
def test_every_change_in_transit_is_named_and_the_documented_ones_are_not(
        tmp_path: Path, contract: Contract, change: Change, found: set[tuple[str, str]]) -> None:
    sent, received = journals(tmp_path, change, TRAFFIC)
    assert all(entry.trace for entry in sent) and all(entry.trace for entry in received)
    result = compare_transit(sent, received, contract, mount=MOUNT)
    assert result.compared == len(TRAFFIC) and result.warnings == []
    assert {(f.operation, f.location) for f in result.findings} == found
    for finding in result.findings:
        assert (finding.hop, finding.kind) == (Hop.PROXY_TO_MLFLOW, FindingKind.ALTERED_IN_TRANSIT)
        assert len(finding.exchanges) == 2
        assert KEY not in finding.model_dump_json()


def test_both_values_are_named(tmp_path: Path, contract: Contract) -> None:
    sent, received = journals(tmp_path, _last_value_only, TRAFFIC[:1])
    (finding,) = compare_transit(sent, received, contract, mount=MOUNT).findings
    assert finding.expected == 'as the client sent it: ["name ASC", "last_updated_timestamp DESC"]'
    assert finding.observed == 'MLflow received: ["last_updated_timestamp DESC"]'


def test_a_proxy_dropping_the_trace_header_is_paired_by_order_or_not_judged(tmp_path: Path,
                                                                           contract: Contract) -> None:
    sent, received = journals(tmp_path, _last_value_only, TRAFFIC, strip_unknown=True)
    assert not any(entry.trace for entry in received)
    paired = compare_transit(sent, received, contract, mount=MOUNT)
    assert paired.compared == len(TRAFFIC) and paired.warnings == []  # the same requests in the same order
    assert {f.location for f in paired.findings} == {"query.order_by", "query.max_results"}
    # One more upstream call than requests (the proxy's own): the order proves nothing any more.
    unpaired = compare_transit(sent, [*received, received[0]], contract, mount=MOUNT)
    assert unpaired.findings == [] and unpaired.compared == 0
    (warning,) = unpaired.warnings
    assert TRACE_HEADER in warning and "not judged" in warning


def test_no_trace_warning_when_nothing_the_client_sent_reached_mlflow(tmp_path: Path, contract: Contract) -> None:
    """Issue 23: a proxy that refused every request (MLflow saw its own health checks at most) drops nothing."""
    sent, received = journals(tmp_path, unchanged, TRAFFIC, strip_unknown=True)
    health = replace(received[0], method="GET", path="/health", raw_path="/health", query=())
    for seen in ([], [health, health]):
        result = compare_transit(sent, seen, contract, mount=MOUNT)
        assert (result.warnings, result.findings, result.compared) == ([], [], 0)
