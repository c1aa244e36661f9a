"""The suite server: suites forked from it with their imports done, or fresh interpreters where it cannot start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_RUN = """
import os, sys
from pathlib import Path
from hokusai_contracts.checks.suites import server
child = server.forked_pytest(["--version"], dict(os.environ), Path(sys.argv[1]), "suite-test")
child.join()
print(type(child).__name__, child.exitcode)
"""


@pytest.mark.parametrize(("long_tmpdir", "kind"), [(False, "ForkServerProcess"), (True, "_Interpreter")])
def test_a_suite_runs_forked_or_in_its_own_interpreter(tmp_path: Path, long_tmpdir: bool, kind: str) -> None:
    # The server's socket lives under TMPDIR, and an AF_UNIX path has at most 107 bytes: under a long
    # TMPDIR the server cannot listen (pytest's own tmp_path under xdist is already too long).
    short = Path(tempfile.mkdtemp(dir="/tmp", prefix="st-"))
    temp = short / ("t" * 120) if long_tmpdir else short
    temp.mkdir(exist_ok=True)
    log = tmp_path / "pytest.log"
    try:
        done = subprocess.run([sys.executable, "-c", _RUN, str(log)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TMPDIR": str(temp)})
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [kind, "0"] and done.stderr == ""
    assert "pytest" in log.read_text()
