"""Fixtures and hooks of the suites' pytest session (run by ``suites.runner``, not by ``make test``).

Each test item appends one ``SuiteTestResult`` line to the results file: its outcome, the cases
it sent, the statuses it saw and its findings. The runner turns those lines into checks,
findings and coverage. A test's recorder comes from the ``recorder`` fixture, which leaves it in
the item's stash for the report hook: nothing is kept in module globals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from hokusai_contracts.checks.suites.context import SuiteContext, load_context
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.results import Outcome, SuiteTestResult, append_result
from hokusai_contracts.checks.suites.schemas import TARGETS
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import redact

RECORDER = pytest.StashKey[Recorder]()


def _suite(item: pytest.Item) -> Suite:
    marker = item.get_closest_marker("suite")
    if marker is None:
        raise pytest.UsageError(f"{item.nodeid}: every suite test needs @pytest.mark.suite(Suite...)")
    return Suite(marker.args[0])


@pytest.fixture(scope="session")
def context() -> SuiteContext:
    return load_context()


@pytest.fixture
def recorder(request: pytest.FixtureRequest, context: SuiteContext) -> Recorder:
    """This test's recorder. Hypothesis runs every example through one call of the fixture, so one
    recorder spans all of them, as one report check does."""
    suite = _suite(request.node)
    hop, contract_file = TARGETS[suite]
    contract = Contract.load(context.contracts_dir / context.contract(contract_file), root=context.display_root)
    made = Recorder(suite, hop, contract, context)
    request.node.stash[RECORDER] = made
    return made


def _secrets(context: SuiteContext) -> list[str]:
    return [s for s in (context.api_key, context.admin_token) if s]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    context = load_context()
    recorder = item.stash.get(RECORDER, None)
    result = SuiteTestResult(
        suite=_suite(item), name=item.name, nodeid=item.nodeid, outcome=Outcome(report.outcome),
        seconds=round(report.duration, 3),
        message=redact(str(report.longrepr), _secrets(context))[-2000:] if report.failed else "",
        cases=recorder.cases if recorder else 0,
        statuses={op: sorted(s) for op, s in recorder.statuses.items()} if recorder else {},
        contract=recorder.contract.display_path if recorder else None,
        findings=list(recorder.findings) if recorder else [],
        finished_at=time.time(),
    )
    append_result(context.results_file, result)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A suite module that cannot even load (a missing or broken contract) is an error, not a silent pass."""
    if not report.failed:
        return
    context = load_context()
    module = report.nodeid.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_").replace("_", "-")
    append_result(context.results_file, SuiteTestResult(
        suite=Suite(module), name=f"load {report.nodeid.rsplit('/', 1)[-1]}", nodeid=report.nodeid,
        outcome=Outcome.ERROR, message=redact(str(report.longrepr), _secrets(context))[-2000:],
        finished_at=time.time()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A shard's tests: its share of the operations (``schemas.load_schema`` generated no others) and, in
    the first shard only, the tests of no operation (the explicit encoded-path and repeated-query ones)."""
    context = load_context()
    if context.shards > 1 and context.shard > 0:
        others = [item for item in items if "[" not in item.name]
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if item not in others]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "suite(name): the report suite a test belongs to (a Suite)")
