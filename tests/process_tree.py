"""The processes a test started, and which of them outlived what should have stopped them (psutil).

Integration tests that start a stack take a snapshot of the tree before and after, then ask which of
those processes are still alive once the stack was stopped or its runner killed.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil

__all__ = ["alive", "descendants", "process_name"]


def process_name(pid: int) -> str:
    """The process's name ("" once it is gone)."""
    try:
        return psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        return ""


def _under(pid: int) -> set[int]:
    try:
        return {pid} | {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def descendants(*pids: int) -> set[int]:
    """``pids`` that still run and every process under them, with a PostgreSQL server's own children,
    which leave its session (setsid)."""
    found: set[int] = set().union(*map(_under, pids))
    for server in [pid for pid in found if process_name(pid) == "postgres"]:
        found |= _under(server)
    return found


def alive(pids: Iterable[int]) -> dict[int, str]:
    """Those of ``pids`` still running (a zombie has ended: only its parent's wait is missing), each with
    the start of its argv, to say which one it is."""
    running = {}
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                running[pid] = " ".join(process.cmdline()[:3])
        except psutil.NoSuchProcess:
            pass
    return running
