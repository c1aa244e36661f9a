"""Fixtures and hooks of the suites' pytest session (run by ``suites.runner``, not by ``make test``).

Each test item appends one JSON line to the results file: its outcome, the
cases it sent, the statuses it saw and its findings. The runner turns those
lines into the report's checks, findings and coverage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hokusai_contracts.checks.suites.context import SuiteContext, load_context
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact

_RECORDERS: dict[str, Recorder] = {}


@pytest.fixture(scope="session")
def context() -> SuiteContext:
    return load_context()


@pytest.fixture
def recorder_factory(request: pytest.FixtureRequest, context: SuiteContext) -> Iterator[object]:
    def make(suite: str, hop: Hop, contract_file: str) -> Recorder:
        # Hypothesis calls the test once per example with the same fixture: one recorder spans them all.
        existing = _RECORDERS.get(request.node.nodeid)
        if existing is not None:
            return existing
        contract = Contract.load(context.contracts_dir / contract_file, root=context.contracts_dir.parent)
        recorder = Recorder(suite, hop, contract, context)
        _RECORDERS[request.node.nodeid] = recorder
        return recorder

    yield make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    context = load_context()
    secrets = [s for s in (context.api_key, context.admin_token) if s]
    # A state machine test cannot take fixtures: its module keeps one RECORDER for all its walks.
    recorder = _RECORDERS.pop(item.nodeid, None)
    if recorder is None and item.name == "runTest":
        recorder = getattr(getattr(item, "module", None), "RECORDER", None)
    suite = item.get_closest_marker("suite")
    record = {
        "suite": suite.args[0] if suite else item.nodeid.split("::")[0].rsplit("/", 1)[-1],
        "name": item.name,
        "nodeid": item.nodeid,
        "outcome": report.outcome,
        "seconds": round(report.duration, 3),
        "message": redact(str(report.longrepr), secrets)[-2000:] if report.failed else "",
        "cases": recorder.cases if recorder else 0,
        "statuses": {op: sorted(s) for op, s in recorder.statuses.items()} if recorder else {},
        "contract": recorder.contract.display_path if recorder else None,
        "findings": [f.model_dump(mode="json") for f in recorder.findings] if recorder else [],
        "finished_at": time.time(),
    }
    with context.results_file.open("a", encoding="utf-8") as sink:
        sink.write(json.dumps(record) + "\n")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A suite module that cannot even load (a missing or broken contract) is an error, not a silent pass."""
    if not report.failed:
        return
    context = load_context()
    secrets = [s for s in (context.api_key, context.admin_token) if s]
    module = report.nodeid.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_").replace("_", "-")
    record = {"suite": module, "name": f"load {report.nodeid.rsplit('/', 1)[-1]}", "nodeid": report.nodeid,
              "outcome": "error", "seconds": 0.0, "cases": 0, "statuses": {}, "contract": None, "findings": [],
              "message": redact(str(report.longrepr), secrets)[-2000:], "finished_at": time.time()}
    with context.results_file.open("a", encoding="utf-8") as sink:
        sink.write(json.dumps(record) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "suite(name): the report suite a test belongs to")
