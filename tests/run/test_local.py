"""Which suites a local run runs when not told (``run.local.suites_to_run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.run import local
from hokusai_contracts.run.local import LocalOptions, suites_to_run


def test_the_default_run_leaves_mlflow_itself_to_full() -> None:
    assert suites_to_run(LocalOptions(), reviewed=True) == [Suite.AUTH_SERVICE, Suite.PROXY, Suite.STATEFUL]
    assert suites_to_run(LocalOptions(full=True), reviewed=True) == [
        Suite.AUTH_SERVICE, Suite.MLFLOW_DIRECT, Suite.PROXY, Suite.STATEFUL]


def test_a_server_whose_contracts_nobody_reviewed_is_fuzzed_itself() -> None:
    assert Suite.MLFLOW_DIRECT in suites_to_run(LocalOptions(), reviewed=False)


def test_suites_named_are_run_exactly() -> None:
    assert suites_to_run(LocalOptions(suites=[Suite.MLFLOW_DIRECT]), reviewed=True) == [Suite.MLFLOW_DIRECT]
    assert suites_to_run(LocalOptions(suites=[], full=True), reviewed=False) == []


def test_bad_proxy_timeouts_are_refused_before_the_stack_starts(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def running_stack(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stack started for a run that should have been refused")

    monkeypatch.setattr(local, "running_stack", running_stack)
    with pytest.raises(UsageError) as refused:
        local.run_local(LocalOptions(report_dir=tmp_path / "reports", proxy_timeouts="auth=fast"), out=lambda _: None)
    assert str(refused.value) == ("HOKUSAI_PROXY_TIMEOUTS: 'auth=fast' is not auth=SECONDS or mlflow=SECONDS "
                                  "(0 < SECONDS <= 600); write e.g. auth=5,mlflow=30")
    assert not (tmp_path / "reports").exists()  # nothing left behind


def test_bad_proxy_timeouts_in_the_environment_are_one_line_and_exit_2(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--report-dir",
                                str(tmp_path / "reports")], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                               env={**os.environ, "HOKUSAI_PROXY_TIMEOUTS": "mlflow=0"})
    assert completed.returncode == 2
    (line,) = completed.stderr.splitlines()
    assert line.startswith("hokusai-contracts: error: HOKUSAI_PROXY_TIMEOUTS: 'mlflow=0' is not auth=SECONDS")
    assert completed.stdout == "" and not (tmp_path / "reports").exists()
