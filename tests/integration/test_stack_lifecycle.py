"""Start-up and teardown of the process stack: nothing left behind, failures named."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hokusai_contracts._errors import StackError
from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.processes import ProcessStack

pytestmark = pytest.mark.integration


def _descendants(pids: list[int]) -> set[int]:
    found = set(pids)
    for pid in pids:
        try:
            found |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_stop_leaves_no_process_and_no_temp_dir() -> None:
    stack = ProcessStack(StackDefinition())
    stack.start()
    try:
        pids = _descendants([p.process.pid for p in stack.parts.values()])
        root = stack.root
        assert root is not None and root.exists()
        assert len(pids) >= len(Part)
    finally:
        stack.stop()
    assert not _alive(pids)
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
    assert not _alive({p.process.pid for p in stack.parts.values()})


def test_a_bad_proxy_cmd_placeholder_is_a_clear_error() -> None:
    stack = ProcessStack(StackDefinition(), proxy_cmd="my-proxy --port {prot}")
    with pytest.raises(StackError, match="unknown placeholder"):
        stack.start()
    assert stack.root is not None and not stack.root.exists()


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
    children = _descendants([process.pid]) - {process.pid}
    roots = {Path(p.cwd()).parent for p in map(psutil.Process, children) if _safe_cwd(p)}
    process.send_signal(sig)
    process.wait(90)  # generous: a loaded CI machine stops MLflow slowly; a hang still fails
    assert not _alive(children)
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
    everything = _descendants([process.pid]) - {process.pid}
    process.send_signal(signal.SIGTERM)
    # Killed, not waited for: a suite left to finish runs on for 20 s or more.
    killed_by = time.monotonic() + 10
    while _alive(suites) and time.monotonic() < killed_by:
        time.sleep(0.2)
    assert not _alive(suites)
    process.wait(60)  # a loaded machine stops MLflow slowly; a hang still fails
    assert process.returncode == 143  # SIGTERM, as shells count it
    assert not _alive(everything)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []
