"""The suite server: the process each suite's pytest is forked from, its imports already done.

Every suite process imports the same things (pytest, Schemathesis, Hypothesis, requests, the
recorder): about 1.5 s of CPU each, spent again per suite in the run's busiest phase. A
``multiprocessing`` fork server imports them once (started early by ``warm_suite_server``, or at
the first suite), then forks a child per suite that runs ``pytest.main``. The suite modules
themselves are not imported by the server: they read their context at import, in the child.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys
from functools import cache
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

__all__ = ["forked_pytest", "warm_suite_server"]

SUITE_IMPORTS = ["pytest", "_pytest.python", "hypothesis", "_hypothesis_pytestplugin", "schemathesis",
                 "schemathesis.pytest.plugin", "requests", "hokusai_contracts.checks.suites.recorder",
                 "hokusai_contracts.checks.suites.conftest"]


@cache
def _server() -> ForkServerContext:
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload(SUITE_IMPORTS)
    return server


def warm_suite_server() -> None:
    """Start the suite server and its imports now, ahead of the suites (from a thread: it takes seconds)."""
    _server()
    multiprocessing.forkserver.ensure_running()


def forked_pytest(argv: list[str], env: dict[str, str], log: Path, name: str) -> BaseProcess:
    """``pytest ARGV`` in a child of the suite server, with exactly ``env``, its output to ``log``; started."""
    child = _server().Process(target=_pytest_child, name=name, args=(argv, env, str(log)))
    child.start()
    return child


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
