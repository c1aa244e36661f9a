"""The tool's own live HTTP calls, through the gate: an httpx transport.

Probes use ``gated_client(gate)`` instead of ``httpx``'s module functions, so
each request is checked, rate limited, counted and logged, and transport
errors still surface as httpx's own (a refused connection stays "unreachable").
"""

from __future__ import annotations

import time

import httpx

from hokusai_contracts.safety.gate import Gate, Refused
from hokusai_contracts.safety.policy import OutgoingRequest

__all__ = ["WIRE_HEADERS", "GatedTransport", "gated_client"]

#: Headers of an answer that describe its bytes on the wire: the gate hands on the decoded body,
#: so they would lie about it.
WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class GatedTransport(httpx.BaseTransport):
    def __init__(self, gate: Gate, verify: str | bool = True, inner: httpx.BaseTransport | None = None) -> None:
        self._gate = gate
        self._inner = inner or httpx.HTTPTransport(verify=verify, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        located = self._gate.locate(url)
        if located is None:
            raise Refused(f"{request.method} {url.split('?', 1)[0]} is on none of the configured hosts: "
                          "live runs talk to the proxy, auth and MLflow URLs only")
        target, path = located
        outgoing = OutgoingRequest(target=target, method=request.method, path=path,
                                   query=request.url.query.decode("latin-1"),
                                   headers=dict(request.headers), body=request.read())
        time.sleep(self._gate.admit(outgoing))
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            content = response.read()
        except httpx.TransportError as exc:
            self._gate.record(outgoing, None, b"", time.perf_counter() - started, error=type(exc).__name__)
            raise
        seconds = time.perf_counter() - started
        self._gate.record(outgoing, response.status_code, content, seconds, headers=response.headers)
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in WIRE_HEADERS]
        answer = httpx.Response(response.status_code, headers=headers, content=content, request=request,
                                extensions={**response.extensions, "hokusai_upstream_s": seconds})
        response.close()
        return answer

    def close(self) -> None:
        self._inner.close()


def gated_client(gate: Gate, verify: str | bool = True, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(transport=GatedTransport(gate, verify), timeout=timeout, follow_redirects=False)
