"""Start-up and teardown of the process stack: nothing left behind, failures named."""

from __future__ import annotations

import sys

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
