"""A respx router as the network under the real MLflow client, for unit tests of what it makes of answers.

MLflow's client speaks requests and urllib3, not httpx, so respx cannot stand in for its transport
directly. Here the router answers one layer under requests' transport adapter: urllib3's connection
pool asks it instead of opening a socket. Everything above runs as on the wire: MLflow's request
building, its retry policy (urllib3's ``Retry``, which retries a 5xx and makes exhausted retries
requests' ``RetryError``), ``verify_rest_response`` and the exceptions it raises. A route raising
``httpx.ConnectError`` is a connection refused (urllib3's ``NewConnectionError``).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
import respx
from urllib3 import poolmanager
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.response import BaseHTTPResponse, HTTPResponse


def _content(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    if hasattr(body, "read"):
        return bytes(body.read())
    return b"".join(part.encode() if isinstance(part, str) else bytes(part) for part in body)


class _RoutedPool(HTTPConnectionPool):
    """urllib3's pool for plain HTTP, whose one request on a connection is answered by ``router``."""

    router: ClassVar[respx.MockRouter | None] = None

    def _make_request(self, conn: Any, method: str, url: str, body: Any = None, headers: Any = None,  # type: ignore[override]
                      retries: Any = None, timeout: Any = None, chunked: bool = False, response_conn: Any = None,
                      preload_content: bool = True, decode_content: bool = True,
                      enforce_content_length: bool = True) -> BaseHTTPResponse:
        router = _RoutedPool.router
        assert router is not None, "a request outside the mlflow_wire fixture"
        request = httpx.Request(method, f"http://{self.host}:{self.port}{url}", headers=dict(headers or {}),
                                content=_content(body))
        try:
            answer = router.handler(request)
        except httpx.ConnectError as exc:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
        content = answer.read()
        answer_headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-encoding"}
        answer_headers["content-length"] = str(len(content))
        return HTTPResponse(body=io.BytesIO(content), headers=answer_headers, status=answer.status_code,
                            reason=answer.reason_phrase, preload_content=preload_content, decode_content=decode_content,
                            request_method=method, request_url=url, retries=retries, pool=self,
                            enforce_content_length=enforce_content_length)


@pytest.fixture
def wire_url() -> str:
    """A host of this test's own: MLflow caches its sessions' connection pools and its stores by URL."""
    return f"http://proxy-{uuid.uuid4().hex[:12]}.test"


@pytest.fixture
def mlflow_wire(monkeypatch: pytest.MonkeyPatch, wire_url: str) -> Iterator[respx.MockRouter]:
    """The router answering whatever is sent to ``wire_url``; anything it has no route for fails the test."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    router = respx.MockRouter(base_url=wire_url, assert_all_called=False)
    monkeypatch.setitem(poolmanager.pool_classes_by_scheme, "http", _RoutedPool)
    monkeypatch.setattr(_RoutedPool, "router", router)
    yield router
