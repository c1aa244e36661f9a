"""Run the contract suites against running targets; their results become a phase's checks.

Suites are pytest modules driving Schemathesis (``test_*.py`` beside this file). Each runs in a
child pytest process and leaves one ``SuiteTestResult`` line per test; ``suite_checks`` turns
those into checks, findings and coverage. Known deviations are not this module's business: the
run's fold applies them to every finding before a check's status is decided.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_contracts.checks.suites.context import CONTEXT_ENV, DEFAULT_MAX_EXAMPLES, SuiteContext
from hokusai_contracts.checks.suites.results import Outcome, SuiteTestResult, read_results
from hokusai_contracts.checks.suites.schemas import MODULES
from hokusai_contracts.checks.suites.server import SuiteProcess, forked_pytest
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.names import SCHEMATHESIS_SUITES, PhaseName, Suite
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, Coverage, PhaseResult, UnknownNote, Verdict
from hokusai_contracts.report.progress import report_progress
from hokusai_contracts.settings import cache_root
from hokusai_contracts.stack.processes import StackEndpoints

__all__ = ["DEFAULT_MAX_EXAMPLES", "SuiteOptions", "run_local_suites", "run_pytest_suites", "suite_checks"]


#: How a suite's pytest runs. ``--assert=plain``: pytest would otherwise rewrite the asserts of every
#: module of its plugins' packages (all of Schemathesis and Hypothesis, 375 modules) on each start, and
#: with PYTHONDONTWRITEBYTECODE set it cannot cache them: 2.5-3 s of a suite's start on 2 cores. The
#: suites assert nothing (findings are recorded, not raised). Plugins are named, not autoloaded
#: (PYTEST_DISABLE_PLUGIN_AUTOLOAD below): whatever else the user's environment has installed
#: (coverage, timeouts, our own fixture plugin) neither costs start-up time nor changes how a suite runs.
PYTEST_ARGS = ("-q", "--no-header", "--tb=short", "--assert=plain", "-p", "schemathesis.pytest.plugin",
               "-p", "_hypothesis_pytestplugin", "-p", "no:cacheprovider", "-o", "addopts=",
               "-W", "ignore::DeprecationWarning")

#: Suites run as this many pytest processes, every n-th test each: the proxy suite is a run's long
#: pole (19 s, the other suites done in 11), and it waits on its hops more than it computes.
#: Not mlflow-direct: its shards would upload and download beside each other, and MLflow meets races
#: there (a download of a name the other shard just stored) that a run of one process never shows.
SHARDS: dict[Suite, int] = {Suite.PROXY: 2}

_STATUS = {Outcome.PASSED: CheckStatus.PASSED, Outcome.FAILED: CheckStatus.FAILED,
           Outcome.SKIPPED: CheckStatus.SKIPPED, Outcome.ERROR: CheckStatus.ERROR}


@dataclass
class SuiteOptions:
    """Which suites run, and how many Schemathesis examples each operation gets."""

    suites: list[Suite] = field(default_factory=lambda: list(SCHEMATHESIS_SUITES))
    max_examples: int = DEFAULT_MAX_EXAMPLES
    #: Contract files read in place of others (``SuiteContext.contract_files``): MLFLOW_VERSION's pair.
    contract_files: dict[str, str] = field(default_factory=dict)
    #: The MLflow side's contract requires a key (``SuiteContext.mlflow_requires_key``).
    mlflow_requires_key: bool = False


def run_pytest_suites(context: SuiteContext, workdir: Path, out: Callable[[str], None] = print,
                      shards: Mapping[Suite, int] | None = None) -> tuple[list[SuiteTestResult], dict[str, float]]:
    """Run each suite (or each of its ``shards``: local runs split by ``SHARDS``; a live run's requests
    are the gate's to pace, one process a suite) in its own pytest process, a few at once.

    Separate processes keep Schemathesis' and Hypothesis' global state apart and use both cores
    of a small machine; they are forked from the suite server (``server``), which has their imports.
    """
    here = Path(__file__).parent
    split = shards or {}
    units = [_Unit(suite, shard, split.get(suite, 1)) for suite in context.suites if (here / MODULES[suite]).exists()
             for shard in range(split.get(suite, 1))]
    # The sharded (longest) first, so that the short ones fill in beside them.
    units.sort(key=lambda unit: unit.of, reverse=True)
    children: list[SuiteProcess] = []
    stopping = False
    storage = _hypothesis_storage(workdir)

    def run_one(unit: _Unit) -> tuple[_Unit, int, float, float]:
        own = context.model_copy(update={"results_file": workdir / f"{unit}.results.jsonl", "suites": [unit.suite],
                                         "shard": unit.shard, "shards": unit.of})
        context_file = workdir / f"{unit}.context.json"
        context_file.touch(mode=0o600)
        context_file.write_text(own.model_dump_json(), "utf-8")
        started = time.perf_counter()
        if stopping:
            return unit, -1, started, started
        child = forked_pytest(
            [str(here / MODULES[unit.suite]), *PYTEST_ARGS, "--rootdir", str(here), "-c", str(here / "pytest.ini")],
            {**os.environ, CONTEXT_ENV: str(context_file), "HYPOTHESIS_STORAGE_DIRECTORY": storage,
             "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            workdir / f"{unit}.pytest.log", name=f"suite-{unit}")
        children.append(child)
        child.join()
        return unit, child.exitcode if child.exitcode is not None else -1, started, time.perf_counter()

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(units), (os.cpu_count() or 1) + 1)))
    try:
        futures = [pool.submit(run_one, unit) for unit in units]
        while wait(futures, timeout=1.0).not_done:
            report_progress(_tally(workdir, units))
        finished = [future.result() for future in futures]
    except BaseException:
        # Ctrl-C or SIGTERM (turned into KeyboardInterrupt by the run): a child pytest never gets
        # a signal sent to us alone, and waiting for it would hold the stack up for minutes.
        stopping = True
        for child in children:
            child.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return _gathered(finished, context, workdir, out)


@dataclass(frozen=True)
class _Unit:
    """One pytest process: a suite's shard ``shard`` of ``of`` (every ``of``-th test from ``shard``)."""

    suite: Suite
    shard: int = 0
    of: int = 1

    def __str__(self) -> str:
        return str(self.suite) if self.of == 1 else f"{self.suite}.{self.shard}"


def _gathered(finished: list[tuple[_Unit, int, float, float]], context: SuiteContext, workdir: Path,
              out: Callable[[str], None]) -> tuple[list[SuiteTestResult], dict[str, float]]:
    """Each suite's results, its shards' together; its wall time from its first start to its last end."""
    results: list[SuiteTestResult] = []
    walls: dict[str, float] = {}
    for suite in dict.fromkeys(unit.suite for unit, *_ in finished):
        shards = [(unit, code, started, ended) for unit, code, started, ended in finished if unit.suite is suite]
        seconds = max(ended for *_, ended in shards) - min(started for _, _, started, _ in shards)
        suite_results = [r for unit, *_ in shards for r in read_results(workdir / f"{unit}.results.jsonl")]
        broken = [(unit, code) for unit, code, *_ in shards if code not in (0, 1)]
        # The suite's verdict (failed checks, unknown findings) is the fold's to print, once it has
        # applied the known deviations; pytest's exit code only when it says pytest itself broke.
        out(f"  {suite}: {len(suite_results)} tests in {seconds:.1f} s" +
            "".join(f" (pytest exit {code})" for _, code in broken))
        walls[f"{PhaseName.SUITES}.{suite}"] = round(seconds, 3)
        for unit, code in broken or ([(shards[0][0], shards[0][1])] if not suite_results else []):
            tail = (workdir / f"{unit}.pytest.log").read_text("utf-8", errors="replace")[-1500:]
            suite_results.append(SuiteTestResult(
                suite=suite, name=f"run {MODULES[suite]}", nodeid=MODULES[suite], outcome=Outcome.ERROR,
                seconds=seconds, message=redact(f"pytest exited with {code}: {tail}",
                                                [s for s in (context.api_key, context.admin_token) if s]),
            ))
        results += suite_results
    return results, walls


def _hypothesis_storage(workdir: Path) -> str:
    """Hypothesis' directory (``.hypothesis/``) in the user's cache, not their working directory.

    It holds the example database: failures of earlier runs are tried first, Hypothesis' way of
    showing at once whether a fix worked (in CI, Hypothesis' own ``ci`` profile derandomizes instead).
    """
    for where in (cache_root() / "hypothesis", workdir / "hypothesis"):
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return str(where)
    return str(workdir)


def suite_checks(results: list[SuiteTestResult], drop: Callable[[Finding], bool] | None = None) -> PhaseResult:
    """The suites' results as checks with their findings, and the statuses seen per operation.

    ``drop`` removes findings that are not the service's (a live run's gate answering instead of
    it); a test whose every other finding turns out known is then reported as skipped, not passed.
    """
    coverage = Coverage()
    checks = []
    for result in results:
        kept = [f for f in result.findings if drop is None or not drop(f)]
        settled = Verdict(CheckStatus.SKIPPED, "stopped by the live run's gate (request budget or safety policy)") \
            if len(kept) < len(result.findings) else None
        checks.append(Check(suite=result.suite, name=result.name, status=_STATUS[result.outcome],
                            seconds=result.seconds, cases=result.cases, message=result.message, findings=kept,
                            note=UnknownNote.REPLACE, if_all_known=settled))
        if result.contract:
            for operation, statuses in result.statuses.items():
                coverage.add(result.contract, operation, statuses)
    return PhaseResult(checks=checks, coverage=coverage, announce_suites=True)


def _tally(workdir: Path, units: list[_Unit]) -> str:
    """``proxy 14 tests, 2 failing; stateful 3 tests`` from the results files as they grow."""
    parts = []
    for suite in dict.fromkeys(unit.suite for unit in units):
        done = failing = 0
        for path in (workdir / f"{unit}.results.jsonl" for unit in units if unit.suite is suite):
            if not path.exists():
                continue
            for line in path.read_text("utf-8", errors="replace").splitlines():
                try:
                    result = SuiteTestResult.model_validate_json(line)
                except ValueError:  # the line being written
                    continue
                done += 1
                failing += result.outcome in (Outcome.FAILED, Outcome.ERROR) or bool(result.findings)
        parts.append(f"{suite} {done} tests" + (f", {failing} failing" if failing else ""))
    return "; ".join(parts)


def run_local_suites(endpoints: StackEndpoints, workdir: Path, options: SuiteOptions, contracts_dir: Path,
                     display_root: Path, out: Callable[[str], None] = print) -> PhaseResult:
    """Run the suites against a started local stack (``workdir``: a private directory of the stack's)."""
    workdir.mkdir(mode=0o700, exist_ok=True)
    context = SuiteContext(
        mode="local", proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url, mlflow_url=endpoints.mlflow_url,
        api_key=endpoints.api_key, admin_token=endpoints.admin_token, contracts_dir=contracts_dir,
        display_root=display_root, results_file=workdir / "results.jsonl", max_examples=options.max_examples,
        suites=list(options.suites), contract_files=dict(options.contract_files),
        mlflow_requires_key=options.mlflow_requires_key,
    )
    out("\n— Contract suites —")
    started = time.perf_counter()
    results, walls = run_pytest_suites(context, workdir, out, SHARDS) if context.suites else ([], {})
    phase = suite_checks(results)
    phase.timings.update(walls)
    phase.timings[PhaseName.SUITES] = round(time.perf_counter() - started, 3)
    return phase
