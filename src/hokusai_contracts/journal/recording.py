"""The hop journal: a recording pass-through that any upstream can sit behind.

It knows nothing of the service it fronts. Every exchange becomes one ``HttpExchange``, written
as a JSON line (``journal.lines``) with credentials masked and large bodies summarised by size
and SHA-256; the engine judges them against the receiving side's contract after the run. The
same piece injects faults (``journal.faults``) so that the proxy's behaviour with a slow, failing
or disconnecting upstream can be observed. Each exchange names its ``Hop``, the edge of the
topology the journal sits on.

Control endpoints live under ``/__journal__/`` (faults, entries, reset): a prefix no contract of
ours uses.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.journal.faults import ConnectionDropped, Cut, Fault, FaultMode, cut_connection
from hokusai_contracts.journal.lines import journal_line, read_journal
from hokusai_contracts.journal.sightings import BodyRecorder, sightings_in

__all__ = ["HOP_BY_HOP", "TRACE_HEADER", "ConnectionDropped", "HopJournal"]

#: The correlation header a journal in front of the proxy adds, and every journal records: it pairs
#: what a client sent with what the proxy forwarded (``journal.transit``).
TRACE_HEADER = "X-Hokusai-Contract-Trace"
# Content-Length is kept on purpose: a journal must not turn a sized body into a chunked one
# (MLflow's WSGI app reads a chunked request body as empty).
HOP_BY_HOP = {"host", "connection", "keep-alive", "te", "trailer", "upgrade", "transfer-encoding",
               "proxy-connection"}
_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=300.0, pool=10.0)


class _Relayed:
    """One exchange on its way through: what is known of it so far, and its request body's recorder."""

    def __init__(self, head: HttpExchange) -> None:
        self.head = head
        self.sent = BodyRecorder()
        self.started = time.perf_counter()

    def record(self, *, status: int | None = None, error: str | None = None,
               response_headers: dict[str, str] | None = None, response_body: Body | None = None) -> HttpExchange:
        """The whole record: the request body as it passed, the answer (if any), timed now."""
        return dataclasses.replace(
            self.head, request_body=self.sent.body(digest=True),
            credentials=self.head.credentials + tuple(self.sent.sightings()), status=status,
            response_headers=response_headers or {}, response_body=response_body or Body(),
            elapsed_ms=(time.perf_counter() - self.started) * 1000, error=error)


class HopJournal:
    """An ASGI app forwarding everything to ``upstream`` and journaling it to ``out`` (JSON lines).

    ``hop`` is the edge it sits on (a ``Hop`` or its value: ValueError for any other name, before
    anything is recorded). ``transport`` replaces the network for unit tests (an ``httpx.MockTransport``).
    ``add_trace`` gives every request a fresh ``TRACE_HEADER`` (replacing one the caller sent).
    ``running()`` opens the upstream client and the file (the lifespan does, under a server).
    """

    def __init__(self, upstream: str, hop: Hop | str, out: Path, fault: Fault | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, *, add_trace: bool = False) -> None:
        self.hop = Hop(hop)
        self.upstream = upstream.rstrip("/")
        self.out = out
        self.fault = fault or Fault()
        self.add_trace = add_trace
        self.seq = 0
        self._transport = transport
        self._run_token = secrets.token_hex(4)
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._sink: IO[str] | None = None
        self._app = Starlette(routes=[
            Route("/__journal__/fault", self._set_fault, methods=["POST"]),
            Route("/__journal__/entries", self._entries, methods=["GET"]),
            Route("/__journal__/reset", self._reset, methods=["POST"]),
        ], lifespan=self._lifespan)
        # Not a "/{path:path}" route: Starlette's path patterns do not match a newline (%0A), and a
        # pass-through must forward every path a client sends, fuzzed ones included.
        self._app.router.default = self._relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=_TIMEOUT, transport=self._transport) as client:
            with self.out.open("a", encoding="utf-8") as sink:
                self._client, self._sink = client, sink
                try:
                    yield
                finally:
                    self._client = self._sink = None

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield

    # -- control endpoints -----------------------------------------------------------------------

    async def _set_fault(self, request: Request) -> Response:
        self.fault = Fault.model_validate(await request.json())
        return JSONResponse(self.fault.model_dump(mode="json"))

    async def _entries(self, request: Request) -> Response:
        lines = ",".join(journal_line(exchange) for exchange in read_journal(self.out))
        return Response(f"[{lines}]", media_type="application/json")

    async def _reset(self, request: Request) -> Response:
        self.out.write_text("")
        return JSONResponse({"reset": True})

    # -- the pass-through ------------------------------------------------------------------------

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._forward(Request(scope, receive))
        await response(scope, receive, send)

    async def _write(self, exchange: HttpExchange) -> None:
        async with self._lock:
            assert self._sink is not None, "the journal is not running"
            self._sink.write(journal_line(exchange) + "\n")
            self._sink.flush()

    def _begin(self, request: Request, headers: list[tuple[str, str]], faulted: bool) -> _Relayed:
        """The request as it came, masked; ``headers`` as forwarded (with the trace header)."""
        self.seq += 1
        trace = next((v for k, v in headers if k.lower() == TRACE_HEADER.lower()), None)
        if self.add_trace:
            trace = f"{self._run_token}-{self.seq}"
            headers[:] = [(k, v) for k, v in headers if k.lower() != TRACE_HEADER.lower()]
            headers.append((TRACE_HEADER, trace))
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.query_params.multi_items()
        return _Relayed(HttpExchange(
            seq=self.seq, hop=self.hop, started_at=time.time(), method=request.method,
            path=redact(_decoded_path(request)), raw_path=redact(raw_path.decode("latin-1")), trace=trace,
            query=tuple((k, redact(v)) for k, v in query),
            request_headers={k: redact(v) for k, v in headers},
            credentials=(*sightings_in(headers, "header"), *sightings_in(query, "query")),
            fault=self.fault.mode.value if faulted else None,
        ))

    async def _forward(self, request: Request) -> Response:
        fault = self.fault
        faulted = fault.applies_to(request.url.path)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
        relayed = self._begin(request, headers, faulted)
        injected = await fault.before_forwarding() if faulted else None
        if injected is not None:
            await self._write(dataclasses.replace(relayed.head, status=500, error="injected fault: error"))
            return injected
        dropping = faulted and fault.mode is FaultMode.DROP
        body = relayed.sent.through(request.stream())
        assert self._client is not None, "the journal is not running"
        outgoing = self._client.build_request(
            request.method, _upstream_url(self.upstream, request.scope.get("raw_path") or request.url.path.encode(),
                                          request.scope["query_string"]),
            headers=[(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP],
            content=fault.cutting(body, lambda: relayed.sent.size) if dropping else body,
        )
        try:
            answer = await self._client.send(outgoing, stream=True)
        except Cut as cut:
            return await self._drop(request, relayed, str(cut))
        except httpx.HTTPError as exc:
            await self._write(relayed.record(error=f"{type(exc).__name__}: {exc}"))
            return Response(f"journal: upstream unreachable ({type(exc).__name__})", status_code=502)
        if dropping:
            await answer.aclose()
            return await self._drop(request, relayed, f"before the answer ({answer.status_code} from upstream)")
        passthrough = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(self._answer(relayed, answer), status_code=answer.status_code, headers=passthrough)

    async def _drop(self, request: Request, relayed: _Relayed, where: str) -> Response:
        await self._write(relayed.record(error=f"injected fault: drop {where}"))
        return await cut_connection(request)

    async def _answer(self, relayed: _Relayed, answer: httpx.Response) -> AsyncIterator[bytes]:
        """The upstream's answer, relayed; the last chunk goes out only after the exchange is written.

        So a client that has the whole answer (its Content-Length met) finds the exchange in the
        journal when it looks.
        """
        received = BodyRecorder()
        last: bytes | None = None
        try:
            async for chunk in answer.aiter_raw():
                received.feed(chunk)
                if last is not None:
                    yield last
                last = chunk
        finally:
            await answer.aclose()
            await self._write(relayed.record(
                status=answer.status_code, response_headers={k: redact(v) for k, v in answer.headers.items()},
                response_body=received.body(digest=False)))
        if last is not None:
            yield last


def _decoded_path(request: Request) -> str:
    """The path as the server decoded it, written as Starlette's ``URL`` writes it but whole.

    ``request.url.path`` goes through ``urlsplit``, which drops tabs and line breaks: a client's
    ``%0A`` in a path parameter would be judged as if it had never been sent.
    """
    path: str = request.scope["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _upstream_url(base: str, raw_path: bytes, query: bytes) -> httpx.URL:
    """The upstream URL with the path exactly as received: percent-encoding untouched."""
    url = httpx.URL(base)
    return url.copy_with(raw_path=url.raw_path.rstrip(b"/") + raw_path + (b"?" + query if query else b""))


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
    app = HopJournal(args.upstream, args.hop, args.out, Fault(mode=args.fault, delay_s=args.fault_delay))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
