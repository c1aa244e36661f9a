"""Proxies that alter requests in transit or break on what real clients send, for ``PROXY_CMD``.

``python tests/proxies/transit_proxy.py DEFECT --port P --auth-url U --mlflow-url M``

Each is the reference proxy with one thing changed:

- ``collapse-query``: a query parameter given twice reaches MLflow with its last value only;
- ``drop-delete-body``: DELETE requests forwarded without their body (MLflow's deletes take JSON);
- ``control-char-500``: a path holding a percent-encoded control character (``%00``-``%1F``, ``%7F``)
  answered 500 by the proxy itself.
"""

from __future__ import annotations

import re
import sys
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from hokusai_mocks.reference_proxy import __main__ as proxy_main
from hokusai_mocks.reference_proxy import app as proxy_app

DEFECTS = ("collapse-query", "drop-delete-body", "control-char-500")
_CONTROL = re.compile(rb"%(?:[01][0-9A-Fa-f]|7[Ff])")


def _wrapped(change: Any) -> None:
    original = proxy_app.ReferenceProxy

    def create_app(settings: Any, transport: Any = None) -> Any:
        return change(original(settings, transport))

    proxy_main.ReferenceProxy = create_app  # type: ignore[assignment]


def _collapse_query(inner: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            last = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            scope = {**scope, "query_string": urlencode(last).encode("latin-1")}
        await inner(scope, receive, send)

    return app


def _control_char_500(inner: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _CONTROL.search(scope.get("raw_path") or b""):
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return
        await inner(scope, receive, send)

    return app


def _drop_delete_bodies() -> None:
    original = httpx.AsyncClient.build_request

    def build_request(self: httpx.AsyncClient, method: str, url: Any, **kwargs: Any) -> httpx.Request:
        if method == "DELETE":
            kwargs["content"] = b""
            kwargs["headers"] = [(k, v) for k, v in kwargs.get("headers") or [] if k.lower() != "content-length"]
        return original(self, method, url, **kwargs)

    httpx.AsyncClient.build_request = build_request  # type: ignore[method-assign]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in DEFECTS:
        sys.exit(f"usage: transit_proxy.py {{{'|'.join(DEFECTS)}}} --port P --auth-url U --mlflow-url M")
    defect = sys.argv.pop(1)
    if defect == "collapse-query":
        _wrapped(_collapse_query)
    elif defect == "control-char-500":
        _wrapped(_control_char_500)
    else:
        _drop_delete_bodies()
    proxy_main.main()


if __name__ == "__main__":
    main()
