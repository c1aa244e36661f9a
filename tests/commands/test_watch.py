"""``watch``: bad input at start is one line and exit 2, before anything is bound, created or sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

KEY = "hk_test_" + "W4tch" * 6 + "ab"  # made up, of the key's format


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "MLFLOW_"))}
    clean.update({"HOKUSAI_PROXY_URL": "http://127.0.0.1:9/api/mlflow", "HOKUSAI_AUTH_URL": "http://127.0.0.1:9",
                  "HOKUSAI_MLFLOW_URL": "", **env})
    return subprocess.run([sys.executable, "-m", "hokusai_contracts", "watch", "--report-dir",
                           str(tmp_path / "reports"), *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=clean)


def one_line(completed: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    (line,) = completed.stderr.strip().splitlines()
    assert not (tmp_path / "reports").exists()  # nothing left behind
    assert KEY not in completed.stdout + completed.stderr
    return line


@pytest.mark.parametrize(("args", "env", "says"), [
    (["--every", "soon"], {"HOKUSAI_API_KEY": KEY}, "--every: 'soon' is not a duration"),
    ([], {"HOKUSAI_API_KEY": KEY, "HOKUSAI_WATCH_EVERY": "5 minutes"}, "HOKUSAI_WATCH_EVERY: '5 minutes' is not a"),
    (["--alert-webhook", "ftp://hooks.example/x"], {"HOKUSAI_API_KEY": KEY}, "--alert-webhook: must be an http(s) URL"),
    ([], {"HOKUSAI_API_KEY": KEY, "HOKUSAI_ALERT_WEBHOOK": "hooks.example/T0/secret"}, "HOKUSAI_ALERT_WEBHOOK: must "
                                                                                         "be an http(s) URL"),
    ([], {}, "HOKUSAI_API_KEY is not set"),
    (["--metrics-port", "0"], {"HOKUSAI_API_KEY": KEY}, "--metrics-port: '0' is not a port"),
], ids=["every", "every-env", "webhook", "webhook-env", "no-key", "port-zero"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], env: dict[str, str], says: str) -> None:
    line = one_line(run(tmp_path, *args, **env), tmp_path)
    assert says in line
    assert "secret" not in line  # a webhook URL is a credential: never echoed


def test_a_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run(tmp_path, "--metrics-port", str(port), HOKUSAI_API_KEY=KEY), tmp_path)
    assert line == (f"hokusai-contracts: error: --metrics-port/HOKUSAI_METRICS_PORT: cannot listen on 127.0.0.1:{port} "
                    "(Address already in use); choose a free port")


def test_an_unwritable_state_file(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    line = one_line(run(tmp_path, "--state", str(tmp_path / "a-folder"), "--metrics-port", "1", "--once",
                        HOKUSAI_API_KEY=KEY), tmp_path)
    assert line.startswith(f"hokusai-contracts: error: --state: cannot write the watch history {tmp_path / 'a-folder'}")
