"""The hop journal: a recording pass-through that any upstream can sit behind.

It knows nothing of the service it fronts. Every exchange becomes one JSON
line (``JournalEntry``) with credentials masked and large bodies summarised by
size and SHA-256; the engine judges the entries against the receiving side's
contract after the run. The same piece injects faults (``Fault``) so that the
proxy's behaviour with a slow, failing or disconnecting upstream can be observed
(an absent upstream is a stopped process: see ``stack.processes``). Each entry names
its ``Hop``, the edge of the topology the journal sits on.

Control endpoints live under ``/__journal__/`` (faults, entries, reset): a
prefix no contract of ours uses.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import KEY_PATTERN, mask, redact

__all__ = ["TRACE_HEADER", "ConnectionDropped", "CredentialSighting", "Fault", "FaultMode", "JournalEntry",
           "create_journal", "read_journal"]

#: The correlation header a journal in front of the proxy adds, and every journal records: it pairs
#: what a client sent with what the proxy forwarded (``journal.transit``).
TRACE_HEADER = "X-Hokusai-Contract-Trace"

#: Bodies up to this size are kept (redacted) as text; larger ones only by size and digest.
TEXT_BODY_LIMIT = 64 * 1024
# Content-Length is kept on purpose: a journal must not turn a sized body into a chunked one
# (MLflow's WSGI app reads a chunked request body as empty).
HOP_BY_HOP = {"host", "connection", "keep-alive", "te", "trailer", "upgrade", "transfer-encoding",
               "proxy-connection"}
_BEARER_OR_KEY = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
# A key split across two chunks of a streamed body must still be seen.
_OVERLAP = 64


class FaultMode(StrEnum):
    NONE = "none"
    SLOW = "slow"  # wait delay_s before forwarding
    ERROR = "error"  # answer 500 without forwarding
    # Forward, then cut the caller's connection once drop_after_bytes of the request body have
    # passed (mid-upload), or, for a smaller body, when the upstream's answer arrives (before the
    # caller gets it): no status line at all, as when a load balancer or a crashing server resets.
    DROP = "drop"


class Fault(BaseModel):
    mode: FaultMode = FaultMode.NONE
    delay_s: float = 10.0
    # Only requests whose path contains this text are affected ("" = all).
    path_contains: str = ""
    drop_after_bytes: int = Field(default=256 * 1024, ge=0)


class ConnectionDropped(ConnectionResetError):
    """The injected ``drop`` fault, raised where no server connection can be cut (in-process ASGI)."""


class CredentialSighting(BaseModel):
    location: str
    masked: str


class JournalEntry(BaseModel):
    seq: int
    hop: Hop
    started_at: float
    method: str
    path: str
    #: The path as it came on the wire, percent-encoding untouched (``path`` is decoded).
    raw_path: str | None = None
    query: list[tuple[str, str]] = Field(default_factory=list)
    #: The correlation id this request carried (or, on the journal that adds it, was given).
    trace: str | None = None
    request_headers: dict[str, str] = Field(default_factory=dict)
    request_body: str | None = None
    request_body_size: int = 0
    request_body_sha256: str | None = None
    credentials: list[CredentialSighting] = Field(default_factory=list)
    status: int | None = None
    response_headers: dict[str, str] = Field(default_factory=dict)
    response_body: str | None = None
    response_body_size: int = 0
    elapsed_ms: float | None = None
    error: str | None = None
    fault: str | None = None


def _sightings_in_text(text: str, location: str) -> list[CredentialSighting]:
    return [CredentialSighting(location=location, masked=mask(m)) for m in _BEARER_OR_KEY.findall(text)]


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


class _BodyRecorder:
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

    def text(self) -> str | None:
        if self.size == 0 or self.size > TEXT_BODY_LIMIT:
            return None
        try:
            return redact(bytes(self.head).decode("utf-8"))
        except UnicodeDecodeError:
            return None

    def sightings(self) -> list[CredentialSighting]:
        raw = bytes(self.head).decode("latin-1") if self.size <= TEXT_BODY_LIMIT else ""
        return [CredentialSighting(location=_body_location(raw, key), masked=mask(key)) for key in sorted(self.keys)]


def _masked_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    return {k: redact(v) for k, v in headers}


def create_journal(upstream: str, hop: Hop | str, out: Path, fault: Fault | None = None,
                   transport: httpx.AsyncBaseTransport | None = None, *, add_trace: bool = False) -> Starlette:
    """An ASGI app forwarding everything to ``upstream`` and journaling it to ``out`` (JSON lines).

    ``hop`` is the edge it sits on (a ``Hop`` or its value: ValueError for any other name, before
    anything is recorded). ``transport`` replaces the network for unit tests (an ``httpx.MockTransport``).
    ``add_trace`` gives every request a fresh ``TRACE_HEADER`` (replacing one the caller sent).
    """
    edge = Hop(hop)
    run_token = secrets.token_hex(4)
    state: dict[str, Any] = {"fault": fault or Fault(), "seq": 0}
    upstream = upstream.rstrip("/")
    lock = asyncio.Lock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(connect=5.0, read=300.0, write=300.0, pool=10.0)
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            state["client"] = client
            with out.open("a", encoding="utf-8") as sink:
                state["sink"] = sink
                yield

    async def write(entry: JournalEntry) -> None:
        async with lock:
            state["sink"].write(entry.model_dump_json() + "\n")
            state["sink"].flush()

    async def set_fault(request: Request) -> Response:
        state["fault"] = Fault.model_validate(await request.json())
        return JSONResponse(state["fault"].model_dump(mode="json"))

    async def entries(request: Request) -> Response:
        return JSONResponse([e.model_dump(mode="json") for e in read_journal(out)])

    async def reset(request: Request) -> Response:
        out.write_text("")
        return JSONResponse({"reset": True})

    async def relay(request: Request) -> Response:
        state["seq"] += 1
        fault: Fault = state["fault"]
        applies = fault.mode is not FaultMode.NONE and fault.path_contains in request.url.path
        raw_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
        trace = next((v for k, v in raw_headers if k.lower() == TRACE_HEADER.lower()), None)
        if add_trace:
            trace = f"{run_token}-{state['seq']}"
            raw_headers = [(k, v) for k, v in raw_headers if k.lower() != TRACE_HEADER.lower()]
            raw_headers.append((TRACE_HEADER, trace))
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        entry = JournalEntry(
            seq=state["seq"], hop=edge, started_at=time.time(), method=request.method,
            path=redact(request.url.path), raw_path=redact(raw_path.decode("latin-1")), trace=trace,
            query=[(k, redact(v)) for k, v in request.query_params.multi_items()],
            request_headers=_masked_headers(raw_headers),
            fault=fault.mode.value if applies else None,
        )
        for name, value in raw_headers:
            entry.credentials += _sightings_in_text(value, f"header.{name}")
        for name, value in request.query_params.multi_items():
            entry.credentials += _sightings_in_text(value, f"query.{name}")
        recorder = _BodyRecorder()
        started = time.perf_counter()

        if applies and fault.mode is FaultMode.SLOW:
            await asyncio.sleep(fault.delay_s)
        if applies and fault.mode is FaultMode.ERROR:
            entry.status, entry.error = 500, "injected fault: error"
            await write(entry)
            return Response("injected upstream error", status_code=500, media_type="text/plain")

        dropping = applies and fault.mode is FaultMode.DROP

        async def body() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                recorder.feed(chunk)
                if dropping and chunk and recorder.size >= fault.drop_after_bytes:
                    # Raised inside the upstream send: httpx abandons that connection too, so the
                    # upstream sees the same broken upload the caller does.
                    raise _Cut(f"after {recorder.size} bytes of the request body")
                yield chunk

        async def drop(where: str) -> Response:
            entry.error = f"injected fault: drop {where}"
            entry.elapsed_ms = (time.perf_counter() - started) * 1000
            _finish_request(entry, recorder)
            await write(entry)
            return await _cut_connection(request)

        headers = [(k, v) for k, v in raw_headers if k.lower() not in HOP_BY_HOP]
        outgoing = state["client"].build_request(
            request.method, _upstream_url(upstream, raw_path, request.scope["query_string"]),
            headers=headers, content=body(),
        )
        try:
            answer = await state["client"].send(outgoing, stream=True)
        except _Cut as cut:
            return await drop(str(cut))
        except httpx.HTTPError as exc:
            entry.error = f"{type(exc).__name__}: {exc}"
            entry.elapsed_ms = (time.perf_counter() - started) * 1000
            _finish_request(entry, recorder)
            await write(entry)
            return Response(f"journal: upstream unreachable ({type(exc).__name__})", status_code=502)
        if dropping:
            await answer.aclose()
            return await drop(f"before the answer ({answer.status_code} from upstream)")

        _finish_request(entry, recorder)
        entry.status = answer.status_code
        entry.response_headers = {k: redact(v) for k, v in answer.headers.items()}
        response_recorder = _BodyRecorder()

        async def relay_body() -> AsyncIterator[bytes]:
            # The last chunk goes out only after the entry is written: a client that has the whole
            # answer (its Content-Length met) finds the exchange in the journal when it looks.
            last: bytes | None = None
            try:
                async for chunk in answer.aiter_raw():
                    response_recorder.feed(chunk)
                    if last is not None:
                        yield last
                    last = chunk
            finally:
                await answer.aclose()
                entry.response_body = response_recorder.text()
                entry.response_body_size = response_recorder.size
                entry.elapsed_ms = (time.perf_counter() - started) * 1000
                await write(entry)
            if last is not None:
                yield last

        passthrough = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(relay_body(), status_code=answer.status_code, headers=passthrough)

    routes = [
        Route("/__journal__/fault", set_fault, methods=["POST"]),
        Route("/__journal__/entries", entries, methods=["GET"]),
        Route("/__journal__/reset", reset, methods=["POST"]),
    ]

    async def everything_else(scope: Scope, receive: Receive, send: Send) -> None:
        response = await relay(Request(scope, receive))
        await response(scope, receive, send)

    app = Starlette(routes=routes, lifespan=lifespan)
    # Not a "/{path:path}" route: Starlette's path patterns do not match a newline (%0A), and a
    # pass-through must forward every path a client sends, fuzzed ones included.
    app.router.default = everything_else
    return app


class _Cut(Exception):
    """Ends the forwarded body where the drop fault cuts it."""


class _NoAnswer(Response):
    """Sends nothing: the connection it would answer on is gone."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


async def _cut_connection(request: Request) -> Response:
    """Reset the caller's TCP connection, so it sees no status line at all.

    ASGI has no message for "drop this connection", and an exception only makes the server answer
    500. Uvicorn's ``receive`` is a method of its request cycle, which holds the connection's
    asyncio transport: aborting that sends a reset, and uvicorn then sends nothing more (it treats
    the request as disconnected). Without such a transport (an in-process ASGI client), raise
    ``ConnectionDropped``, which that client passes to its caller.
    """
    transport = getattr(getattr(request.receive, "__self__", None), "transport", None)
    if not callable(getattr(transport, "abort", None)):
        raise ConnectionDropped("injected fault: drop")
    assert transport is not None
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn learn of the lost connection before we return
    return _NoAnswer()


def _finish_request(entry: JournalEntry, recorder: _BodyRecorder) -> None:
    entry.request_body = recorder.text()
    entry.request_body_size = recorder.size
    entry.request_body_sha256 = recorder.digest.hexdigest() if recorder.size else None
    entry.credentials += recorder.sightings()


def _upstream_url(base: str, raw_path: bytes, query: bytes) -> httpx.URL:
    """The upstream URL with the path exactly as received: percent-encoding untouched."""
    url = httpx.URL(base)
    return url.copy_with(raw_path=url.raw_path.rstrip(b"/") + raw_path + (b"?" + query if query else b""))


def read_journal(path: Path) -> list[JournalEntry]:
    if not path.exists():
        return []
    # split("\n"), not splitlines(): a recorded value may hold U+2028 or U+0085, which JSON leaves
    # unescaped and splitlines() would take for line ends.
    return [JournalEntry.model_validate_json(line) for line in path.read_text("utf-8").split("\n") if line.strip()]


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m hokusai_contracts.journal.recording", description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--hop", required=True, type=Hop, choices=list(Hop))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fault", choices=[m.value for m in FaultMode], default="none")
    parser.add_argument("--fault-delay", type=float, default=10.0)
    args = parser.parse_args(argv)
    app = create_journal(args.upstream, args.hop, args.out, Fault(mode=args.fault, delay_s=args.fault_delay))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
