"""The metrics port: ``/metrics`` for Prometheus and the status page at ``/``, served from a thread.

The standard library's threading HTTP server: two read-only routes need no framework, and binding
in ``StatusServer.bind`` (before the first round) turns a port in use into one line and exit 2.
The page is rendered per request from the history, so a restarted watch shows the rounds before it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hokusai_contracts._errors import UsageError
from hokusai_contracts.watch.metrics import CONTENT_TYPE_LATEST, WatchMetrics

__all__ = ["StatusServer"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, self.server.metrics.render())
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", self.server.page().encode("utf-8"))
        elif path == "/favicon.ico":
            self._send(204, "image/x-icon", b"")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try / or /metrics\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every 15 s is no news for the watch's log


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: WatchMetrics, page: Callable[[], str]) -> None:
        self.metrics, self.page = metrics, page
        super().__init__(address, _Handler)


class StatusServer:
    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="watch-status", daemon=True)

    @classmethod
    def bind(cls, host: str, port: int, metrics: WatchMetrics, page: Callable[[], str]) -> StatusServer:
        """Bind ``host:port`` now; a ``UsageError`` naming the port when it is taken."""
        try:
            return cls(_Server((host, port), metrics, page))
        except OSError as exc:
            raise UsageError(f"--metrics-port/HOKUSAI_METRICS_PORT: cannot listen on {host}:{port} "
                             f"({exc.strerror or exc}); choose a free port") from None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
