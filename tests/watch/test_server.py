"""The metrics port: /metrics, the page at /, 404 elsewhere; a port in use is one line."""

from __future__ import annotations

import socket

import httpx
import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.watch.metrics import WatchMetrics
from hokusai_contracts.watch.rounds import RoundStatus
from hokusai_contracts.watch.server import StatusServer

from .rounds_fixtures import make_round


def test_metrics_page_and_nothing_else() -> None:
    metrics = WatchMetrics()
    metrics.update(make_round(RoundStatus.FAIL))
    server = StatusServer.bind("127.0.0.1", 0, metrics, lambda: "<!DOCTYPE html><p>page</p>")
    server.start()
    try:
        scraped = httpx.get(server.url + "/metrics")
        assert scraped.headers["content-type"].startswith("text/plain; version=")
        assert "hokusai_contract_run_success 0.0" in scraped.text
        page = httpx.get(server.url + "/")
        assert page.headers["content-type"] == "text/html; charset=utf-8" and page.text.endswith("<p>page</p>")
        assert httpx.get(server.url + "/elsewhere").status_code == 404
    finally:
        server.stop()


def test_a_port_in_use_is_refused_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=rf"^--metrics-port/HOKUSAI_METRICS_PORT: cannot listen on 127.0.0.1:"
                                             rf"{port} \(.*\); choose a free port$"):
            StatusServer.bind("127.0.0.1", port, WatchMetrics(), lambda: "")
