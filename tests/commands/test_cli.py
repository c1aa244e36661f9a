"""Bad input at the command line: one line, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hokusai_contracts", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["local", "--suites", "everything"], "unknown suite 'everything'"),
        (["local", "--models", "svm"], "unknown model 'svm'"),
        (["local", "--stack", "docker", "--proxy-cmd", "x"], "PROXY_CMD runs a process"),
        (["nonsense"], "invalid choice"),
        (["local", "--replay", "/nonexistent/recording.har"], "REPLAY=/nonexistent/recording.har: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    completed = run(*args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    "part",
    [["auth"], ["mlflow"], ["proxy", "--auth-url", "http://127.0.0.1:1", "--mlflow-url", "http://127.0.0.1:1"]],
    ids=["auth", "mlflow", "proxy"],
)
def test_a_port_in_use_is_refused_before_anything_starts(part: list[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        completed = run("serve", part[0], "--port", str(port), *part[1:])
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [f"hokusai-contracts: error: port {port} on 127.0.0.1 is already in use; "
                                             "choose another with --port or stop what is listening there"]
    assert completed.stdout == ""  # nothing started, so nothing announced


# How MLflow goes missing: its `mlflow` script only (a broken venv), or the package too.
HIDE_MLFLOW = {
    "script": "shutil.which = lambda *args, **kwargs: None",
    "package": "shutil.which = lambda *args, **kwargs: None; sys.modules['mlflow'] = None",
}
RUN_CLI = """
import shutil, sys, threading
{hide}
from hokusai_contracts.commands.cli import main
code = main(sys.argv[1:])
# A background thread still running could print after stderr was judged: wait for it.
[thread.join(60) for thread in threading.enumerate() if thread.name == "warm-imports"]
sys.exit(code)
"""


@pytest.mark.parametrize("missing", [
    "script",
    "package",
])
def test_local_without_mlflow_is_one_line_exit_2_and_leaves_nothing(tmp_path: Path, missing: str) -> None:
    import os

    import psutil

    temp = tmp_path / "tmp"  # the stack's temporary directories go here, so leftovers are seen
    temp.mkdir()
    completed = subprocess.run(
        [sys.executable, "-c", RUN_CLI.format(hide=HIDE_MLFLOW[missing]), "local", "--report-dir",
         str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(temp)})
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == ["hokusai-contracts: error: MLflow is not installed in this environment. "
                                             "Run `make venv` (or `pip install -c constraints.txt -e .`) and try "
                                             "again."], completed.stderr
    assert list(temp.iterdir()) == []
    # Every part the stack starts names its temporary directory on its command line.
    leftovers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                 if str(temp) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def test_report_schema_is_json() -> None:
    import json

    completed = run("report-schema")
    assert completed.returncode == 0
    assert json.loads(completed.stdout)["title"] == "Report"


def test_docker_stack_without_an_engine_stops_at_once() -> None:
    import os
    import time

    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--stack", "docker"],
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, "DOCKER_HOST": "tcp://127.0.0.1:1"})
    assert completed.returncode == 2
    assert "make contract-local" in completed.stderr and "Traceback" not in completed.stderr
    assert time.monotonic() - started < 30


def test_an_unknown_setting_value_is_one_line_and_exit_2() -> None:
    import os

    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local"], capture_output=True,
                               text=True, timeout=60, env={**os.environ, "HOKUSAI_MLFLOW_FAULT": "bogus"})
    assert completed.returncode == 2
    assert completed.stderr.startswith("hokusai-contracts: error: HOKUSAI_MLFLOW_FAULT:")
    assert "Traceback" not in completed.stderr


def test_the_proxy_command_is_read_from_hokusai_proxy_cmd() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_")}
    by_env = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--stack", "docker"],
                            env={**env, "HOKUSAI_PROXY_CMD": "my-proxy --port {port}"}, capture_output=True,
                            text=True, timeout=120)
    assert by_env.returncode == 2 and "PROXY_CMD runs a process" in by_env.stderr


def test_serve_auth_refuses_a_malformed_key_without_echoing_it() -> None:
    from hokusai_contracts.stack.processes import free_port

    secretish = "hk_live_" + "x" * 20
    completed = run("serve", "auth", "--port", str(free_port()), "--api-key", secretish)
    assert completed.returncode == 2
    assert "followed by exactly 32 letters and digits" in completed.stdout + completed.stderr
    assert secretish not in completed.stdout + completed.stderr


def _every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    from hokusai_contracts.commands.cli import build_parser

    found, todo = [], [("hokusai-contracts", build_parser())]
    while todo:
        name, parser = todo.pop()
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{name} {sub}", child) for sub, child in action.choices.items()]
    return found


def test_every_option_has_a_help_text_that_shows_its_default() -> None:
    from hokusai_contracts.checks.suites.runner import DEFAULT_MAX_EXAMPLES

    for name, parser in _every_parser():
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.dest}: no help text"
            if action.default not in (None, False, [], argparse.SUPPRESS):
                shown = parser._get_formatter()._expand_help(action)
                assert "(default" in shown, f"{name} {action.dest}: the default is not shown"
        assert "(default: reports)" in text or "--report-dir" not in text, name
    local = dict(_every_parser())["hokusai-contracts local"]
    assert f"(default: {DEFAULT_MAX_EXAMPLES})" in local.format_help().replace("\n", " ").replace("  ", " ")
