"""``hokusai-contracts watch`` against a deployment on loopback: rounds, an outage, alerts, the page, a restart.

One watch (a round every 10 s, or when the last ends) runs against the local stack behind
HTTPS fronts (``tests/live_deployment.py``), with a webhook receiver on loopback. The story:

1. a round passes: ``hokusai_contract_run_success`` 1, no alert;
2. the auth service is stopped (its process SIGSTOPped, its front gone): the next round fails, the
   metric is 0, one firing alert; the status page, in headless Chromium, shows the auth hop red;
3. one more round with auth still stopped: still 0, no second alert;
4. auth comes back: the next round passes, the metric is 1, one resolved alert;
5. SIGTERM in the middle of a round: exit 143, the round's probe models deleted, the round stored;
6. a new start (``--once``) carries on from the database: the next round number, the same probe
   experiment, no alert again.

The deployment changes only while the watch is frozen between two rounds (``_between_rounds``), so
no round sees half an outage. The key is the canary: it must be in none of the watch's output, its
database, its metrics, its page, its alerts or its reports.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hokusai_contracts.stack.definition import Part
from hokusai_contracts.stack.processes import free_port

from ..browser import PageLoad, chromium_missing, load_page
from ..live_deployment import LiveDeployment, live_deployment
from .test_contract_live import _environment, probe_experiments, probe_registered_models

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
ROUND_TIMEOUT_S = 240
WATCH = str(REPO_ROOT / ".venv" / "bin" / "hokusai-contracts")


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.alerts.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.alerts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class Story:
    """What the watch did and showed at each step."""

    deployment: LiveDeployment
    workdir: Path
    port: int
    alerts: list[dict[str, Any]]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # step -> metric sample -> value
    alerts_after: dict[str, list[str]] = field(default_factory=dict)  # step -> statuses of the alerts so far
    rounds: dict[str, int] = field(default_factory=dict)  # step -> round id
    page: PageLoad | None = None
    page_after_recovery: str = ""
    metrics_text: str = ""
    sigterm_code: int | None = None
    interrupted_run: str = ""
    sigterm_seconds: float = 0.0
    restart: subprocess.CompletedProcess[str] | None = None
    output: str = ""

    @property
    def state(self) -> Path:
        return self.workdir / "watch.sqlite"

    @property
    def reports(self) -> Path:
        return self.workdir / "reports"

    def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.state, timeout=30) as db:
            return db.execute(query, args).fetchall()


def _rounds_stored(story: Story) -> int:
    try:
        return int(story.rows("SELECT COUNT(*) FROM rounds")[0][0])
    except sqlite3.Error:
        return 0


def _wait(what: str, predicate: Any, timeout_s: float = ROUND_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _scrape(story: Story) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{story.port}/metrics", timeout=10).text
    story.metrics_text += text
    return {sample.name + json.dumps(sample.labels, sort_keys=True) if sample.labels else sample.name: sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _after_round(story: Story, watch: subprocess.Popen[str], step: str, number: int) -> None:
    """Wait for round ``number`` to be stored and shown by the metrics; note what the watch says then."""
    _wait(f"round {number} ({step})", lambda: _rounds_stored(story) >= number or watch.poll() is not None)
    assert watch.poll() is None, f"the watch ended (exit {watch.returncode})"
    finished = story.rows("SELECT finished_at FROM rounds WHERE id = ?", number)[0][0]
    _wait(f"the metrics of round {number}",
          lambda: _scrape(story).get("hokusai_contract_last_run_timestamp_seconds") == finished, 30)
    story.metrics[step] = _scrape(story)
    story.rounds[step] = number


def _between_rounds(story: Story, watch: subprocess.Popen[str], number: int) -> int:
    """Freeze the watch (SIGSTOP) after round ``number`` and before the next sends anything; returns the
    round it was frozen after. A round's report folder is its first act: one too many means the next
    round had begun, so it runs to its end on an unchanged deployment and the freeze is tried again."""
    while True:
        _wait(f"round {number}", lambda n=number: _rounds_stored(story) >= n)
        os.kill(watch.pid, signal.SIGSTOP)
        if len(list((story.reports / "watch").iterdir())) == number:
            return number
        os.kill(watch.pid, signal.SIGCONT)
        number += 1


def _runs_created(story: Story, since: float) -> list[str]:
    """Ids of the runs the proxy created for the watch after ``since`` (its front's journal, as they arrive)."""
    created = [e for e in story.deployment.fronts[Part.PROXY].entries() if (e.started_at or 0) > since
               and e.path.endswith("/runs/create") and e.status == 200 and e.response_body.text]
    return [json.loads(e.response_body.text or "")["run"]["info"]["run_id"] for e in created]


def _alert_statuses(story: Story) -> list[str]:
    return [alert["status"] for alert in story.alerts]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, receiver: ThreadingHTTPServer) -> Iterator[Story]:
    workdir = tmp_path_factory.mktemp("watch")
    with live_deployment(workdir / "deployment") as deployment:
        told = Story(deployment, workdir, free_port(), receiver.alerts)  # type: ignore[attr-defined]
        yield _tell(told, receiver)


def _watch_env(story: Story, receiver: ThreadingHTTPServer) -> dict[str, str]:
    env = _environment(story.deployment, story.reports, story.deployment.api_key)
    env.update(HOKUSAI_PERF_SAMPLES="2", HOKUSAI_WATCH_STATE=str(story.state),
               HOKUSAI_ALERT_WEBHOOK=f"http://127.0.0.1:{receiver.server_address[1]}/hook")
    return env


def _tell(story: Story, receiver: ThreadingHTTPServer) -> Story:
    env = _watch_env(story, receiver)
    # 10 s: a healthy round takes longer (the next starts when it ends), a round with auth down a few seconds,
    # so the metrics and the page show a down round for a while before the next one.
    argv = [WATCH, "watch", "--every", "10s", "--metrics-port", str(story.port), "--report-dir", str(story.reports)]
    with (story.workdir / "watch.log").open("w+") as log:
        watch = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=story.workdir)
        try:
            _story(story, watch)
        finally:
            if watch.poll() is None:
                os.kill(watch.pid, signal.SIGCONT)
                watch.kill()
                watch.wait()
            log.seek(0)
            story.output = log.read()
    # 6. A new start carries on from the database, for one round.
    story.restart = subprocess.run([*argv[:2], "--once", *argv[4:]], env=env, capture_output=True, text=True,
                                   timeout=ROUND_TIMEOUT_S, cwd=story.workdir)
    story.output += story.restart.stdout + story.restart.stderr
    return story


def _story(story: Story, watch: subprocess.Popen[str]) -> None:
    auth = Part.AUTH
    # 1. A healthy round; the deployment changes only while the watch is frozen between two rounds.
    healthy = _between_rounds(story, watch, 1)
    story.deployment.stop_service(auth)
    os.kill(watch.pid, signal.SIGCONT)
    _after_round(story, watch, "healthy", healthy)
    # 2. Auth stopped: the next round fails and fires one alert; the page shows it.
    _after_round(story, watch, "auth down", healthy + 1)
    _wait("the firing alert", lambda: len(story.alerts) >= 1, 60)
    story.alerts_after["auth down"] = _alert_statuses(story)
    story.page = load_page(f"http://127.0.0.1:{story.port}/", screenshot=story.workdir / "watch-page.png")
    # 3. One more round with auth down, then auth back while the watch is frozen again.
    _after_round(story, watch, "still down", healthy + 2)
    still = _between_rounds(story, watch, healthy + 2)
    story.deployment.resume_service(auth)
    os.kill(watch.pid, signal.SIGCONT)
    time.sleep(1)  # the last down round's alerts, if it had any, go out now
    story.alerts_after["still down"] = _alert_statuses(story)
    # 4. Auth back: the next round passes and resolves the alert.
    _after_round(story, watch, "recovered", still + 1)
    _wait("the resolved alert", lambda: "resolved" in _alert_statuses(story), 60)
    story.alerts_after["recovered"] = _alert_statuses(story)
    story.page_after_recovery = httpx.get(f"http://127.0.0.1:{story.port}/", timeout=10).text
    # 5. SIGTERM while a round runs: its scenario has just created a run through the proxy.
    recovered_at = story.rows("SELECT finished_at FROM rounds WHERE id = ?", still + 1)[0][0]
    _wait("the next round's scenario", lambda: _runs_created(story, recovered_at))
    story.interrupted_run = _runs_created(story, recovered_at)[0]
    began = time.monotonic()
    watch.send_signal(signal.SIGTERM)
    story.sigterm_code = watch.wait(120)
    story.sigterm_seconds = time.monotonic() - began


# -- 1-4: the metric and the alerts through an outage ---------------------------------------------------------


def test_a_healthy_round_passes_without_an_alert(story: Story) -> None:
    assert story.metrics["healthy"]["hokusai_contract_run_success"] == 1, story.output[-3000:]
    assert story.metrics["healthy"]['hokusai_contract_check_success{"check": "verify-proxy"}'] == 1
    assert story.metrics["healthy"]["hokusai_contract_run_duration_seconds"] > 0
    assert story.metrics["healthy"]['hokusai_contract_latency_seconds_count{"target": "auth_validate"}'] >= 2


def test_auth_stopped_flips_the_metric_and_fires_one_alert(story: Story) -> None:
    down = story.metrics["auth down"]
    assert down["hokusai_contract_run_success"] == 0
    assert down['hokusai_contract_check_success{"check": "verify-proxy"}'] == 0
    assert any(name.startswith('hokusai_contract_active_causes{"hop": "client->auth"') and value >= 1
               for name, value in down.items()), down
    assert story.alerts_after["auth down"] == ["firing"]
    alert = story.alerts[0]
    assert alert["hop"] and alert["kind"] and alert["location"] and "text" in alert
    assert "client->auth" in {cause["hop"] for cause in alert["causes"]}
    assert alert["diagnosis"].startswith("infrastructure"), alert["diagnosis"]
    assert any(cause["curl"] and cause["curl"].startswith("curl") for cause in alert["causes"])
    assert "FIRING" in alert["text"]


def test_one_more_round_down_sends_no_second_alert(story: Story) -> None:
    assert story.metrics["still down"]["hokusai_contract_run_success"] == 0
    assert story.alerts_after["still down"] == ["firing"]


def test_auth_back_resolves_the_alert_and_the_metric(story: Story) -> None:
    assert story.metrics["recovered"]["hokusai_contract_run_success"] == 1, story.output[-3000:]
    assert story.alerts_after["recovered"] == ["firing", "resolved"]
    resolved = story.alerts[1]
    assert {c["hop"] for c in resolved["causes"]} == {c["hop"] for c in story.alerts[0]["causes"]}
    assert 'data-hop="client-to-auth" data-state="ok"' in story.page_after_recovery


# -- the status page in a real browser ------------------------------------------------------------------------


@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
def test_the_page_renders_the_hops_and_the_rounds_without_console_errors(story: Story) -> None:
    page = story.page
    assert page is not None
    assert page.console == []
    assert 'id="hops"' in page.dom and 'data-hop="client-to-auth" data-state="fail"' in page.dom
    assert page.dom.count('class="round"') >= 2 and 'data-status="fail"' in page.dom
    assert "min ago" in page.dom or " s ago" in page.dom  # its script ran
    assert page.screenshot is not None and page.screenshot.stat().st_size > 10_000


# -- 5-6: SIGTERM, and a new start from the database ------------------------------------------------------------


def test_sigterm_ends_the_round_cleanly_and_it_is_stored(story: Story) -> None:
    assert story.sigterm_code == 143, story.output[-3000:]
    (status,) = story.rows("SELECT status FROM rounds WHERE id = ?", story.rounds["recovered"] + 1)[0]
    assert status == "interrupted"
    # Its cleanup ran: the run it had created is deleted, no probe model is left; the probe experiment stays.
    run = httpx.get(story.deployment.direct_mlflow_url + "/api/2.0/mlflow/runs/get",
                    params={"run_id": story.interrupted_run}, timeout=30).json()["run"]
    assert run["info"]["lifecycle_stage"] == "deleted"
    assert [m["name"] for m in probe_registered_models(story.deployment)] == []
    assert story.sigterm_seconds < 60


def test_a_new_start_carries_on_from_the_database(story: Story) -> None:
    restart = story.restart
    assert restart is not None and restart.returncode == 0, story.output[-3000:]
    number = story.rounds["recovered"] + 2
    assert f"Round {number}: PASS" in restart.stdout
    assert story.rows("SELECT status FROM rounds WHERE id = ?", number) == [("pass",)]
    assert _alert_statuses(story) == ["firing", "resolved"]
    # One probe experiment for the whole watch, reused by every round, none deleted.
    (experiment,) = probe_experiments(story.deployment, "ACTIVE_ONLY")
    assert probe_experiments(story.deployment, "DELETED_ONLY") == []
    logs = sorted((story.reports / "watch").glob("*/watch-round.log"))
    assert "Experiment reused" in logs[-1].read_text("utf-8")
    assert f"(id {experiment['experiment_id']})" in logs[-1].read_text("utf-8")


def test_the_key_is_never_whole_anywhere(story: Story) -> None:
    key = story.deployment.api_key
    places = {"output": story.output, "metrics": story.metrics_text, "page": story.page_after_recovery,
              "alerts": json.dumps(story.alerts), "page in chromium": story.page.dom if story.page else ""}
    for path in [*story.workdir.glob("watch.sqlite*"), *story.reports.rglob("*")]:
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    assert [where for where, text in places.items() if key in text] == []
