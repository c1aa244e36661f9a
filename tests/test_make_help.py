"""`make help` lists every variable the Makefile lets a user set, with its default."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_help_lists_every_variable_with_its_default() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    variables = dict(re.findall(r"^([A-Z_]+) \?= ?(.*)$", makefile, re.MULTILINE))
    assert {"REPORT_DIR", "PROXY_CMD", "STACK", "SPEC", "KEEP", "PYTEST_ARGS", "PYTHON"} <= set(variables)
    # `make -s help` with no variable set on the command line or in the environment: the defaults.
    env = {"PATH": "/usr/bin:/bin"}
    shown = subprocess.run(["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, check=True,
                           env=env).stdout
    for name, default in variables.items():
        assert re.search(rf"^  {name} +\[{re.escape(default or '(empty)')}\] \S", shown, re.MULTILINE), name


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_record_and_replay_reach_the_command_line() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "--assume-old=.venv/.installed", *args],
                              capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout

    assert "--record" in dry("contract-live", "RECORD=1")
    assert "--record" not in dry("contract-live")
    recording = "reports/traffic/client-proxy.har"
    assert f'--replay "{recording}"' in dry("contract-local", f"REPLAY={recording}")
    assert "--replay" not in dry("contract-local")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_every_and_once_reach_watch() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "--assume-old=.venv/.installed", *args],
                              capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout

    assert "watch --report-dir" in dry("contract-watch")
    assert "--every '20s'" in dry("contract-watch", "EVERY=20s", "ONCE=1")
    assert "--once" in dry("contract-watch", "EVERY=20s", "ONCE=1")
    assert "--every" not in dry("contract-watch") and "--once" not in dry("contract-watch")
