"""Proxies that change requests in transit, or break on what real clients send, are caught and named.

Each runs the real command with the smallest run that shows it: the registration scenario (which
searches with a repeated parameter and deletes what it made) and the hop journals; the proxy
suite only where its explicit encoded-path cases are needed. That the reference proxy gives no
``altered_in_transit`` (no false alarm) is the incidents' reference-proxy test, and the suite
traffic of the control-character proxy here (the reference proxy but for that one path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).parent
PROXY = f"{sys.executable} {HERE / 'transit_proxy.py'}"
ARGS = "--port {port} --auth-url {auth_url} --mlflow-url {mlflow_url}"


def run_local(tmp_path: Path, proxy_cmd: str, *extra: str) -> tuple[int, str, dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "local", "--suites", "none", "--no-faults",
         "--report-dir", str(tmp_path), "--proxy-cmd", proxy_cmd, *extra],
        capture_output=True, text=True, timeout=400, env={**os.environ, "HOKUSAI_ARTIFACT_MB": "0"},
    )
    report = json.loads((tmp_path / "contract-report.json").read_text())
    return completed.returncode, completed.stdout + completed.stderr, report


def altered(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["operation"], f["location"]): f for f in report["findings"]
            if f["kind"] == "altered_in_transit" and f["hop"] == "proxy->mlflow"}


def compared(report: dict[str, Any]) -> int:
    (check,) = [c for c in report["checks"] if c["name"].startswith("in transit (")]
    return int(check["cases"])


def test_a_proxy_collapsing_a_repeated_query_parameter(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{PROXY} collapse-query {ARGS}")
    assert code == 1, output
    finding = altered(report)[("GET /api/2.0/mlflow/registered-models/search", "query.order_by")]
    assert finding["expected"] == 'as the client sent it: ["name ASC", "last_updated_timestamp DESC"]'
    assert finding["observed"] == 'MLflow received: ["last_updated_timestamp DESC"]'
    assert set(altered(report)) == {("GET /api/2.0/mlflow/registered-models/search", "query.order_by")}


def test_a_proxy_dropping_delete_bodies_is_pinned_on_proxy_to_mlflow(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{PROXY} drop-delete-body {ARGS}")
    assert code == 1
    assert "❌ FAILED at step 'delete'" in output
    finding = altered(report)[("DELETE /api/2.0/mlflow/model-versions/delete", "body")]
    assert finding["observed"] == "MLflow received: no body"
    assert {location for _, location in altered(report)} == {"body"}


def test_a_proxy_failing_on_an_encoded_control_character_in_a_path(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{PROXY} control-char-500 {ARGS}", "--suites", "proxy",
                                     "--max-examples", "1")
    assert code == 1
    errors = [f for f in report["findings"] if f["kind"] == "server_error" and f["hop"] == "client->proxy"]
    operations = {f["operation"] for f in errors}
    assert "GET /api/2.0/mlflow/logged-models/{model_id}" in operations, output
    assert all(f["location"] == "status" for f in errors)
    assert any("%0A" in e["url"] or "%00" in e["url"] for f in errors for e in f["exchanges"])
    # Everything else is the reference proxy's: the suites' traffic reached MLflow unchanged.
    assert altered(report) == {} and compared(report) > 0

