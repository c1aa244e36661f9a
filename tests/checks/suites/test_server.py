"""The suite server: suites forked from it with their imports done, or fresh interpreters where it cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.mark.parametrize(("tmpdir_length", "kind"), [(10, "ForkServerProcess"), (200, "_Interpreter")])
def test_a_suite_runs_forked_or_in_its_own_interpreter(tmp_path: Path, tmpdir_length: int, kind: str) -> None:
    # A socket path under a long TMPDIR is too long for AF_UNIX: the server cannot listen there.
    temp = tmp_path / ("t" * tmpdir_length)
    temp.mkdir()
    log = tmp_path / "pytest.log"
    done = subprocess.run([sys.executable, "-c", _RUN, str(log)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(temp)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [kind, "0"] and done.stderr == ""
    assert "pytest" in log.read_text()
