"""One probe request and what it tells: an answer, a refusal to connect, or silence."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hokusai_contracts.domain.findings import Exchange
from hokusai_contracts.domain.redact import redact

__all__ = ["ProbeResult", "probe"]


@dataclass
class ProbeResult:
    method: str
    url: str
    seconds: float
    response: httpx.Response | None = None
    error: str | None = None  # "timeout" or "unreachable: <exception>"
    #: A streamed request body, not kept: its size and SHA-256, which the exchange (and its curl) give instead.
    body_size: int | None = None
    body_sha256: str | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def text(self, limit: int = 200) -> str:
        if self.response is None:
            return self.error or ""
        return redact(self.response.text[:limit].replace("\n", " "))

    def exchange(self) -> Exchange:
        # The request as sent, so the run's fold can write a curl that replays it (Exchange redacts).
        request = self.response.request if self.response is not None else None
        try:
            content = request.content if request is not None else b""
        except httpx.RequestNotRead:  # a streamed upload: not kept
            content = b""
        # A large body (the artifact probe's) stays out of the report: its size and SHA-256 stand for it.
        body = content.decode("utf-8", "replace") if content and len(content) <= 4096 else None
        size, digest = self.body_size, self.body_sha256
        if body is None and content and size is None:
            size, digest = len(content), hashlib.sha256(content).hexdigest()
        return Exchange(method=self.method, url=redact(self.url), status=self.status,
                        request_headers=dict(request.headers) if request is not None else {}, request_body=body,
                        request_body_size=size if body is None else None,
                        request_body_sha256=digest if body is None else None,
                        response_body=self.text(300) if self.response is not None else None,
                        elapsed_ms=round(self.seconds * 1000, 1), error=self.error)


def probe(method: str, url: str, *, timeout: float, verify: str | bool = True, client: httpx.Client | None = None,
          **kwargs: Any) -> ProbeResult:
    """One request; ``client`` (a live run's gated client) replaces a fresh connection."""
    started = time.perf_counter()
    try:
        if client is not None:
            response = client.request(method, url, timeout=timeout, **kwargs)
        else:
            response = httpx.request(method, url, timeout=timeout, verify=verify, **kwargs)
    except httpx.TimeoutException:
        return ProbeResult(method, url, time.perf_counter() - started, error="timeout")
    except httpx.TransportError as exc:
        return ProbeResult(method, url, time.perf_counter() - started, error=f"unreachable: {type(exc).__name__}")
    return ProbeResult(method, url, time.perf_counter() - started, response=response)
