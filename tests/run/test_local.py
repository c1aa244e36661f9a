"""Which suites a local run runs when not told (``run.local.suites_to_run``)."""

from __future__ import annotations

from hokusai_contracts.domain.names import Suite
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
