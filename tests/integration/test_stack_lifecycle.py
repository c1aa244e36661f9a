"""Start-up and teardown of the process stack: nothing left behind, failures named."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hokusai_contracts._errors import StackError, UsageError
from hokusai_contracts.domain.redact import mask
from hokusai_contracts.stack.definition import CORE_PARTS, StackDefinition
from hokusai_contracts.stack.processes import ProcessStack

from ..process_tree import alive, descendants

pytestmark = pytest.mark.integration


def _proc_cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return []  # ended meanwhile


def test_no_secret_in_any_childs_argv_private_files_and_nothing_left_after_stop() -> None:
    # Only this stack's processes: in a whole test session the runner may have other children.
    before = descendants(os.getpid())
    stack = ProcessStack(StackDefinition())
    endpoints = stack.start()
    try:
        root = stack.root
        assert root is not None and root.exists()
        children = descendants(os.getpid()) - before
        assert len(children) >= len(CORE_PARTS) + 1  # every part, MLflow's workers, the watchdog
        secrets = [endpoints.admin_token, *(key["key"] for key in endpoints.keys.values())]
        assert len(secrets) >= 3
        for pid in children:
            argv = _proc_cmdline(pid)
            assert not [mask(s) for s in secrets if any(s in arg for arg in argv)], (pid, argv[:3])
        # Every file of the directory holding the keys is the runner's user's alone.
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        modes = {path.relative_to(root).as_posix(): stat.S_IMODE(path.stat().st_mode) for path in root.rglob("*")}
        assert "state/auth-state.json" in modes and "mlflow/mlflow.db" in modes
        assert {name: mode for name, mode in modes.items() if mode & 0o077} == {}
    finally:
        stack.stop()
    assert not alive(children)
    assert not root.exists()


def test_a_proxy_that_dies_is_named_with_its_log_and_nothing_is_left() -> None:
    command = f"{sys.executable} -c \"print('proxy: cannot bind, giving up'); raise SystemExit(3)\""
    stack = ProcessStack(StackDefinition(), proxy_cmd=command)
    with pytest.raises(StackError) as caught:
        stack.start()
    message = str(caught.value)
    assert "proxy exited with code 3" in message
    assert "cannot bind, giving up" in message
    assert stack.root is not None and not stack.root.exists()
    assert not alive({p.process.pid for p in stack.parts.values()})


def test_a_bad_proxy_cmd_placeholder_is_a_clear_error() -> None:
    stack = ProcessStack(StackDefinition(), proxy_cmd="my-proxy --port {prot}")
    with pytest.raises(UsageError, match=r"^PROXY_CMD has an unknown placeholder \{prot\}; PROXY_CMD may use \{port\}"):
        stack.start()
    assert stack.root is None and stack.parts == {}  # refused before anything was made


_RUNNER = """
import sys, time
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import ProcessStack
stack = ProcessStack(StackDefinition(), proxy_cmd=sys.argv[1])
stack.start()
print(stack.root, flush=True)
time.sleep(600)
"""


def test_a_runner_killed_with_sigkill_leaves_no_process_and_no_temp_dir() -> None:
    # A PROXY_CMD with a child of its own: a shell that leaves `sleep` behind and runs the proxy.
    proxy_cmd = f"sleep 600 & exec {sys.executable} -m hokusai_mocks.reference_proxy"
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER, proxy_cmd], stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None
    root = Path(runner.stdout.readline().strip())
    assert root.name.startswith("hokusai-stack-") and root.exists()
    everything = descendants(runner.pid) - {runner.pid}
    names = {psutil.Process(pid).name() for pid in everything}
    assert "sleep" in names and len(everything) >= len(CORE_PARTS) + 2, names  # the parts, the sleep, the watchdog

    runner.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    runner.wait(10)
    runner.stdout.close()  # filterwarnings = error: an unclosed pipe is a ResourceWarning
    while alive(everything) and time.monotonic() - killed < 15:
        time.sleep(0.1)
    took = time.monotonic() - killed
    left = alive(everything)
    assert left == {}, left
    while root.exists() and time.monotonic() - killed < 15:
        time.sleep(0.1)
    assert not root.exists()
    print(f"every process of the stack ended {took:.1f} s after the runner's SIGKILL")
    assert took < 10


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stack_stops_everything_on_ctrl_c_or_sigterm(sig: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-m", "hokusai_contracts", "serve", "stack"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in process.stdout:
        seen.append(line)
        if "API key" in line or time.monotonic() > deadline:
            break
    assert any("Local stack is up" in line for line in seen), seen
    assert not any(re.search(r"hk_live_[A-Za-z0-9]{32}", line) for line in seen)
    children = descendants(process.pid) - {process.pid}
    roots = {Path(p.cwd()).parent for p in map(psutil.Process, children) if _safe_cwd(p)}
    process.send_signal(sig)
    process.wait(90)  # generous: a loaded CI machine stops MLflow slowly; a hang still fails
    process.stdout.close()
    assert not alive(children)
    assert all(not root.exists() for root in roots if root.name.startswith("hokusai-stack-"))


def _safe_cwd(process: psutil.Process) -> bool:
    try:
        process.cwd()
    except psutil.Error:
        return False
    return True


def test_sigterm_during_the_suites_stops_their_pytest_children_too(tmp_path: Path) -> None:
    # The suites run in child pytest processes that a signal sent to the run alone never reaches;
    # the run must kill them, not wait for them (that held the stack up for ~45 s).
    process = subprocess.Popen([sys.executable, "-m", "hokusai_contracts", "local", "--no-faults",
                                "--report-dir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if "Contract suites" in line or time.monotonic() > deadline:
            break
    time.sleep(2)  # the suites' pytest processes are running now
    suites = {p.pid for p in psutil.Process(process.pid).children(recursive=True)
              if "pytest" in " ".join(_cmdline(p))}
    assert suites, "no suite process was running"
    everything = descendants(process.pid) - {process.pid}
    process.send_signal(signal.SIGTERM)
    # Killed, not waited for: a suite left to finish runs on for 20 s or more.
    killed_by = time.monotonic() + 10
    while alive(suites) and time.monotonic() < killed_by:
        time.sleep(0.2)
    assert not alive(suites)
    process.wait(60)  # a loaded machine stops MLflow slowly; a hang still fails
    process.stdout.close()
    assert process.returncode == 143  # SIGTERM, as shells count it
    assert not alive(everything)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []
