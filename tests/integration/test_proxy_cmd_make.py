"""``make contract-local PROXY_CMD=...`` hands the runner the command exactly as typed.

Make expands ``$`` in variables and the recipe used to wrap the value in single quotes, so ``$HOME``
arrived as ``OME`` and a ``'`` broke the command. The command here records the arguments its shell
gave it and exits: the stack refuses a proxy that died while starting (exit 2), so the run ends
within seconds, after the one thing the test is about.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
_RECORD = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"


def test_proxy_cmd_reaches_the_runner_as_typed(tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    # Quotes of both kinds, a variable for the proxy's shell to expand, a placeholder and a pipe.
    proxy_cmd = (f"{shlex.quote(sys.executable)} -c \"{_RECORD}\" {shlex.quote(str(record))} "
                 "\"$HOME\" 'it'\"'\"'s' 'say \"hi\"' {port} | cat; exit 3")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("HOKUSAI_", "MAKE", "MFLAGS")) and name != "PROXY_CMD"}
    completed = subprocess.run(
        # The checkout's Makefile and venv, run from tmp_path: the CLI reads a .env in its working
        # directory, and a developer's .env in the checkout must not reach the test.
        ["make", "--no-print-directory", "-f", str(REPO_ROOT / "Makefile"), f"VENV={REPO_ROOT / '.venv'}",
         f"--assume-old={REPO_ROOT / '.venv' / '.installed'}", "contract-local",
         f"PROXY_CMD={proxy_cmd}", f"REPORT_DIR={tmp_path / 'report'}"],
        cwd=tmp_path, env={**env, "HOME": str(tmp_path / "home dir")}, capture_output=True, text=True, timeout=180,
    )
    assert record.exists(), completed.stdout[-2000:] + completed.stderr[-2000:]
    home, quote, quoted, port = json.loads(record.read_text())
    assert (home, quote, quoted) == (str(tmp_path / "home dir"), "it's", 'say "hi"')
    assert port.isdigit()
    # The proxy died while starting: a setup failure, said so, and nothing else ran.
    assert "proxy exited with code 3 while starting" in completed.stderr, completed.stderr[-2000:]
