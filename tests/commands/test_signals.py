"""SIGTERM ends a run with exit 143 (128 + 15, as shells count it), Ctrl-C with 130.

The command runs in a child process that sends itself the signal mid-run: once where the run
is (the CLI's own handler), once inside the stack's block (whose handler turns SIGTERM into an
interrupt so teardown runs).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import os, signal, sys, time
from hokusai_contracts.commands import cli
from hokusai_contracts.run import spec
from hokusai_contracts.stack.processes import sigterm_as_interrupt

def run_spec_check(*args, **kwargs):
    with {block}:
        os.kill(os.getpid(), signal.{signal})
        time.sleep(10)
    raise AssertionError("the signal did not stop the run")

spec.run_spec_check = run_spec_check
sys.exit(cli.main(["spec-check", "candidate.yaml", "--no-dynamic"]))
"""


@pytest.mark.parametrize("block", ["sigterm_as_interrupt()", "open(os.devnull)"], ids=["in the stack", "elsewhere"])
@pytest.mark.parametrize(("sig", "code", "says"), [("SIGTERM", 143, "terminated (SIGTERM)"),
                                                  ("SIGINT", 130, "interrupted")])
def test_a_signal_ends_the_run_with_its_exit_code(block: str, sig: str, code: int, says: str) -> None:
    completed = subprocess.run([sys.executable, "-c", CHILD.format(block=block, signal=sig)], capture_output=True,
                               text=True, timeout=60)
    assert completed.returncode == code, (completed.returncode, completed.stderr[-2000:])
    assert says in completed.stderr and "Traceback" not in completed.stderr
