"""The suite server: the process each suite's pytest is forked from, its imports already done.

Every suite process imports the same things (pytest, Schemathesis, Hypothesis, requests, the
recorder): about 1.5 s of CPU each, spent again per suite in the run's busiest phase. A
``multiprocessing`` fork server imports them once (started early by ``warm_suite_server``, or at
the first suite), then forks a child per suite that runs ``pytest.main``. Where it cannot start,
each suite runs in an interpreter of its own, as it did before. The suite modules
themselves are not imported by the server: they read their context at import, in the child.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import subprocess
import sys
from functools import cache
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Protocol

__all__ = ["SuiteProcess", "forked_pytest", "warm_suite_server"]

SUITE_IMPORTS = ["pytest", "_pytest.python", "hypothesis", "_hypothesis_pytestplugin", "schemathesis",
                 "schemathesis.pytest.plugin", "requests", "hokusai_contracts.checks.suites.recorder",
                 "hokusai_contracts.checks.suites.conftest"]


@cache
def _server() -> ForkServerContext | None:
    """The fork server, started; None where it cannot start (its socket path under a long TMPDIR, for one)."""
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload(SUITE_IMPORTS)
    try:
        multiprocessing.forkserver.ensure_running()
    except (OSError, ValueError):
        return None  # each suite then starts its own interpreter, as before the server
    return server


def warm_suite_server() -> None:
    """Start the suite server and its imports now, ahead of the suites (from a thread: it takes seconds)."""
    _server()


class SuiteProcess(Protocol):
    @property
    def exitcode(self) -> int | None: ...

    def join(self) -> None: ...

    def kill(self) -> None: ...


def forked_pytest(argv: list[str], env: dict[str, str], log: Path, name: str) -> SuiteProcess:
    """``pytest ARGV`` in a child of the suite server, with exactly ``env``, its output to ``log``; started."""
    server = _server()
    if server is None:
        return _Interpreter(argv, env, log)
    child = server.Process(target=_pytest_child, name=name, args=(argv, env, str(log)))
    child.start()
    return child


class _Interpreter:
    """Without the server: ``python -m pytest`` in a fresh interpreter (its imports its own)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        with log.open("wb") as out:
            self._process = subprocess.Popen([sys.executable, "-m", "pytest", *argv], env=env, stdout=out,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.exitcode: int | None = None

    def join(self) -> None:
        self.exitcode = self._process.wait()

    def kill(self) -> None:
        self._process.kill()


def _pytest_child(argv: list[str], env: dict[str, str], log: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    nothing = os.open(os.devnull, os.O_RDONLY)
    for target, source in ((0, nothing), (1, out), (2, out)):
        os.dup2(source, target)
    os.close(out)
    os.close(nothing)
    import pytest

    code = pytest.main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(int(code))
