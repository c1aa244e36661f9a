"""Whole runs with a part broken on purpose: bounded time, and the diagnosis names the part.

The same settings users (and unseen fault combinations) use: ``FAKE_AUTH_FAULT`` for the fake auth
service, ``HOKUSAI_MLFLOW_FAULT`` for what the proxy meets when it calls MLflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BROKEN = f"{sys.executable} {Path(__file__).parents[1] / 'incidents' / 'broken_proxy.py'}"
ARGS = "--port {port} --auth-url {auth_url} --mlflow-url {mlflow_url}"


def run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, float, dict[str, object]]:
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--report-dir",
                                str(tmp_path), *args], env={**os.environ, **env}, capture_output=True, text=True,
                               timeout=300)
    return completed.returncode, time.monotonic() - started, json.loads((tmp_path / "contract-report.json").read_text())


@pytest.mark.parametrize(
    ("env", "part"),
    [
        ({"FAKE_AUTH_FAULT": "down"}, "auth"),
        ({"FAKE_AUTH_FAULT": "slow", "FAKE_AUTH_FAULT_DELAY_S": "6"}, "auth"),
        ({"FAKE_AUTH_FAULT": "error"}, "auth"),
        ({"HOKUSAI_MLFLOW_FAULT": "slow"}, "mlflow"),
        ({"HOKUSAI_MLFLOW_FAULT": "down"}, "mlflow"),
        ({"HOKUSAI_MLFLOW_FAULT": "drop"}, "mlflow"),
    ],
)
def test_a_broken_part_is_diagnosed_as_infrastructure(tmp_path: Path, env: dict[str, str], part: str) -> None:
    code, seconds, report = run(tmp_path, env)
    assert code == 1
    assert seconds < 90
    diagnosis = report["diagnosis"]
    assert isinstance(diagnosis, list) and diagnosis
    assert diagnosis[0]["category"] == "infrastructure"
    assert part in diagnosis[0]["summary"]
    assert all(d["category"] not in ("api_key",) for d in diagnosis)


def test_a_proxy_reporting_an_outage_as_a_bad_key_fails_the_faults_suite(tmp_path: Path) -> None:
    code, _, report = run(tmp_path, {}, "--suites", "none", "--proxy-cmd", f"{BROKEN} outage-as-401 {ARGS}")
    assert code == 1
    findings = report["findings"]
    assert isinstance(findings, list)
    rejected = [f for f in findings if f["kind"] == "auth_rejected"]
    assert rejected and all(f["hop"] == "client->proxy" for f in rejected)
    assert rejected[0]["observed"].startswith("401")
