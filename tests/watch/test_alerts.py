"""Alerts: fired once when a cause appears, resolved once when it is gone, delivered with retries, never fatal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hokusai_contracts.stack.processes import free_port
from hokusai_contracts.watch.alerts import Alerter, alert_payload, changes
from hokusai_contracts.watch.rounds import RoundStatus, WatchedCause, round_that_failed

from .rounds_fixtures import AUTH_DOWN, CHECK_FAILED, make_round


def test_a_new_cause_fires_once_and_resolves_once() -> None:
    first = changes([], make_round(RoundStatus.FAIL, [AUTH_DOWN]))
    assert (first.firing, first.resolved, first.open) == ([AUTH_DOWN], [], [AUTH_DOWN])
    again = changes(first.open, make_round(RoundStatus.FAIL, [AUTH_DOWN.model_copy(update={"count": 7})]))
    assert (again.firing, again.resolved) == ([], [])
    gone = changes(again.open, make_round(RoundStatus.PASS))
    assert (gone.firing, gone.resolved, gone.open) == ([], [AUTH_DOWN.model_copy(update={"count": 7})], [])


def test_a_cause_is_the_same_by_hop_kind_location_and_rule_not_its_text() -> None:
    reworded = AUTH_DOWN.model_copy(update={"observed": "other words", "curl": None, "diagnosis": "x"})
    assert changes([AUTH_DOWN], make_round(RoundStatus.FAIL, [reworded])).firing == []
    elsewhere = AUTH_DOWN.model_copy(update={"location": "status"})
    assert changes([AUTH_DOWN], make_round(RoundStatus.FAIL, [elsewhere])).firing == [elsewhere]
    other_rule = AUTH_DOWN.model_copy(update={"rule": "contracts/auth-service.yaml#/responses/401"})
    assert changes([AUTH_DOWN], make_round(RoundStatus.FAIL, [other_rule])).firing == [other_rule]


def test_a_round_that_could_not_run_fires_round_failed_and_keeps_the_rest_open() -> None:
    crashed = round_that_failed(1.0, RoundStatus.ERROR, "ContractError: contracts/mlflow.yaml: broken")
    change = changes([AUTH_DOWN], crashed)
    assert [c.kind for c in change.firing] == ["round_failed"]
    assert change.resolved == [] and AUTH_DOWN in change.open
    assert changes(change.open, crashed).firing == []  # failing again is no news
    back = changes(change.open, make_round(RoundStatus.PASS))
    assert {c.kind for c in back.resolved} == {"round_failed", "unreachable"}


@pytest.mark.parametrize("status", [RoundStatus.INTERRUPTED, RoundStatus.SKIPPED])
def test_interrupted_and_skipped_rounds_change_nothing(status: RoundStatus) -> None:
    change = changes([AUTH_DOWN], round_that_failed(1.0, status, "why"))
    assert (change.firing, change.resolved, change.open) == ([], [], [AUTH_DOWN])


def test_the_payload_names_the_cause_and_reads_well_in_slack() -> None:
    latest = make_round(RoundStatus.FAIL, [AUTH_DOWN, CHECK_FAILED]).model_copy(update={"id": 12})
    payload = alert_payload("firing", [AUTH_DOWN, CHECK_FAILED], latest)
    assert payload["status"] == "firing"
    assert (payload["hop"], payload["kind"], payload["location"]) == ("client->auth", "unreachable", "connection")
    assert payload["diagnosis"] == "infrastructure: auth is down" and payload["curl"].startswith("curl")
    assert [c["kind"] for c in payload["causes"]] == ["unreachable", "check_failed"]
    assert payload["text"].startswith(":red_circle: FIRING") and "round 12" in payload["text"]
    assert "• unreachable at connection on client->auth" in payload["text"]
    assert "```curl" in payload["text"]
    assert json.loads(json.dumps(payload)) == payload  # plain JSON
    resolved = alert_payload("resolved", [AUTH_DOWN], latest)
    assert resolved["text"].startswith(":large_green_circle: RESOLVED") and "```" not in resolved["text"]


class _Flaky(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        server.attempts += 1  # type: ignore[attr-defined]
        ok = server.attempts > server.fail_first  # type: ignore[attr-defined]
        if ok:
            server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    server.attempts, server.fail_first, server.received = 0, 0, []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _alerter(url: str, lines: list[str]) -> Alerter:
    return Alerter(url, lines.append, attempts=3, timeout_s=5, backoff_s=(0.05,))


def test_a_failing_webhook_is_retried(flaky: ThreadingHTTPServer) -> None:
    flaky.fail_first = 2  # type: ignore[attr-defined]
    lines: list[str] = []
    alerter = _alerter(f"http://127.0.0.1:{flaky.server_address[1]}/hooks/T000/B000/secret-token-123", lines)
    change = changes([], make_round(RoundStatus.FAIL, [AUTH_DOWN]))
    alerter.notify(change, make_round(RoundStatus.FAIL, [AUTH_DOWN]))
    assert flaky.attempts == 3 and len(flaky.received) == 1  # type: ignore[attr-defined]
    assert lines == [f"  alert firing (1 causes) sent to http://127.0.0.1:{flaky.server_address[1]}/…"]


def test_a_webhook_that_never_answers_is_logged_not_fatal() -> None:
    lines: list[str] = []
    alerter = _alerter(f"http://127.0.0.1:{free_port()}/hooks/secret-token-123", lines)
    delivered = alerter.post(alert_payload("firing", [AUTH_DOWN], make_round(RoundStatus.FAIL, [AUTH_DOWN])))
    assert delivered is False and alerter.sent == 0
    (line,) = lines
    assert "not delivered" in line and "after 3 attempts" in line and "the watch goes on" in line
    assert "secret-token" not in line  # a webhook's path is its token


def test_no_alert_when_nothing_changed(flaky: ThreadingHTTPServer) -> None:
    alerter = _alerter(f"http://127.0.0.1:{flaky.server_address[1]}/", [])
    alerter.notify(changes([AUTH_DOWN], make_round(RoundStatus.FAIL, [AUTH_DOWN])), make_round())
    assert flaky.attempts == 0  # type: ignore[attr-defined]


def test_watched_cause_identity() -> None:
    cause = WatchedCause(hop="proxy->auth", kind="timeout", location="status", rule="r")
    assert cause.identity == ("proxy->auth", "timeout", "status", "r")
    assert cause.title() == "timeout at status on proxy->auth"
