"""Recorded traffic end to end: a run's journals as HAR judged like the run, a live recording replayed.

Each test is one cheap run (``--suites none --no-faults``, no large artifact): the stack's start-up
plus one registration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..live_deployment import live_deployment
from .test_contract_live import _environment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BROKEN = f"{sys.executable} {Path(__file__).parents[1] / 'incidents' / 'broken_proxy.py'}"
ARGS = "--port {port} --auth-url {auth_url} --mlflow-url {mlflow_url}"
CHEAP = ["--suites", "none", "--no-faults"]


def _tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hokusai_contracts", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HOKUSAI_ARTIFACT_MB": "0", **(env or {})})


def _report(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / "contract-report.json").read_text("utf-8"))
    return loaded


def _journal_causes(report: dict[str, Any], hops: set[str]) -> set[tuple[str, str, str]]:
    """The causes the hop journals gave, by (hop, kind, location)."""
    journal = {id_ for id_, f in enumerate(report["findings"]) if f["suite"] == "hop-journal"}
    return {(c["hop"], c["kind"], c["location"]) for c in report["causes"]
            if c["hop"] in hops and set(c["finding_ids"]) & journal}


def test_a_runs_journals_as_har_judged_give_the_runs_causes(tmp_path: Path) -> None:
    run = _tool("local", *CHEAP, "--report-dir", str(tmp_path / "run"), "--proxy-cmd", f"{BROKEN} key-in-header {ARGS}")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    traffic = tmp_path / "run" / "traffic"
    assert sorted(p.name for p in traffic.iterdir()) == ["client-proxy.har", "proxy-auth.har", "proxy-mlflow.har"]
    # The seeded key is never in a recording: the placeholder stands in its place.
    recorded = (traffic / "proxy-auth.har").read_text("utf-8")
    assert "<HOKUSAI_API_KEY>" in recorded and "hk_live_" not in recorded.replace("hk_live_re...cted", "")

    hops = {"proxy->auth", "proxy->mlflow"}
    judged: set[tuple[str, str, str]] = set()
    for name in ("proxy-auth.har", "proxy-mlflow.har"):
        out = tmp_path / "judged" / name
        result = _tool("judge", str(traffic / name), "--report-dir", str(out))
        assert result.returncode in (0, 1), result.stderr
        judged |= _journal_causes(_report(out), hops)
    expected = _journal_causes(_report(tmp_path / "run"), hops)
    assert ("proxy->auth", "missing_required_field", "body.api_key") in expected
    assert judged == expected


def test_a_recorded_live_run_replayed_locally_reproduces_its_statuses(tmp_path: Path) -> None:
    with live_deployment(tmp_path / "deployment") as deployment:
        env = _environment(deployment, tmp_path / "live", deployment.api_key)
        live = subprocess.run([sys.executable, "-m", "hokusai_contracts", "live", "--suites", "none", "--record",
                               "--report-dir", str(tmp_path / "live")], capture_output=True, text=True, timeout=300,
                              env=env)
    assert live.returncode == 0, live.stdout[-3000:] + live.stderr[-3000:]
    recording = tmp_path / "live" / "traffic" / "client-proxy.har"
    text = recording.read_text("utf-8")
    assert deployment.api_key not in text and "<HOKUSAI_API_KEY>" in text
    assert {p.name for p in recording.parent.iterdir()} >= {"client-proxy.har", "client-auth.har"}

    # A whole run's recording also holds what its transit probes sent outside the proxy's contract.
    recorded = json.loads(text)
    recorded["log"]["entries"] += [_transit_probe(recorded["log"]["entries"], value) for value in _TRANSIT_VALUES]
    recording.write_text(json.dumps(recorded), "utf-8")

    local = _tool("local", *CHEAP, "--report-dir", str(tmp_path / "replay"), "--replay", str(recording))
    assert (tmp_path / "replay" / "contract-report.json").exists(), local.stdout[-3000:] + local.stderr[-3000:]
    report = _report(tmp_path / "replay")
    replay, sent = report["replay"], recorded["log"]["entries"]
    assert len(replay) == len(sent) > 10
    assert [r for r in replay if not r["reproduced"]] == []
    assert "## Replay (" in (tmp_path / "replay" / "contract-report.md").read_text("utf-8")
    # What the proxy forwarded of them is not held against it (the run that recorded them judged it for
    # leaks only); before, the newline's was not even seen (the journal dropped it from the path).
    forwarded = [f for f in report["findings"] if f["hop"] == "proxy->mlflow" and not f["known"]]
    assert forwarded == [], forwarded


_TRANSIT_VALUES = ("contract-probe%0Anewline", "contract-probe%00nul", "contract-probe%2Fslash")


def _transit_probe(entries: list[dict[str, Any]], value: str) -> dict[str, Any]:
    """A recorded GET of a logged model by an id the proxy's contract forbids, as the transit suite sends it."""
    model = next(e for e in entries if e["request"]["method"] == "GET" and "/api/2.0/" in e["request"]["url"])
    url = model["request"]["url"]
    mount = url[:url.index("/api/2.0/")]
    return {**model, "request": {**model["request"], "url": f"{mount}/api/2.0/mlflow/logged-models/{value}",
                                 "queryString": []},
            "response": {**model["response"], "status": 404,
                         # Its size only: MLflow answers each value in another shape (JSON, a 404 page).
                         "content": {"size": 20, "mimeType": "application/json"}}}
