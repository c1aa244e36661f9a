"""Run the contract suites against a started stack and fold their results into the report.

Suites are pytest modules driving Schemathesis (``test_*.py`` beside this
file). They run in-process with ``pytest.main`` and leave one JSON line per
test; the hop journals are judged afterwards. Known deviations are applied
to every finding before a check's status is decided, so an acknowledged
deviation is reported, never hidden, and never fails the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hokusai_contracts.checks.suites.context import CONTEXT_ENV, SuiteContext
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.journal.judging import coverage_of, judge_journal
from hokusai_contracts.journal.recording import read_journal
from hokusai_contracts.report.model import CheckRecord, CheckStatus, OperationCoverage, Report

if TYPE_CHECKING:
    from hokusai_contracts.run.local import LocalOptions
    from hokusai_contracts.stack.processes import Stack, StackEndpoints

__all__ = ["SUITE_MODULES", "add_coverage", "fold_records", "run_pytest_suites", "run_suites"]

SUITE_MODULES = {
    "auth-service": "test_auth_service.py",
    "mlflow-direct": "test_mlflow_direct.py",
    "proxy": "test_proxy.py",
    "stateful": "test_stateful.py",
}
DEFAULT_MAX_EXAMPLES = 10
AUTH_CONTRACT = "auth-service.yaml"
MLFLOW_CONTRACT = "mlflow.yaml"
PROXY_CONTRACT = "mlflow-proxy.yaml"


def run_pytest_suites(context: SuiteContext, workdir: Path, out: Callable[[str], None] = print
                      ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Run each suite in its own pytest process, as many at once as there are cores.

    Separate processes keep Schemathesis' and Hypothesis' global state apart and use both cores
    of a small machine: MLflow, the proxy and the fuzzers are all CPU-bound.
    """
    here = Path(__file__).parent
    suites = [name for name in context.suites if (here / SUITE_MODULES[name]).exists()]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def run_one(name: str) -> tuple[str, int, float]:
        own = context.model_copy(update={"results_file": workdir / f"{name}.results.jsonl", "suites": [name]})
        context_file = workdir / f"{name}.context.json"
        context_file.touch(mode=0o600)
        context_file.write_text(own.model_dump_json(), "utf-8")
        started = time.perf_counter()
        if stopping:
            return name, -1, 0.0
        with (workdir / f"{name}.pytest.log").open("wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "pytest", str(here / SUITE_MODULES[name]), "-q", "--no-header",
                 "--tb=short", "-p", "no:cacheprovider", "-o", "addopts=", "-W", "ignore::DeprecationWarning",
                 "--rootdir", str(here), "-c", str(here / "pytest.ini")],
                env={**os.environ, CONTEXT_ENV: str(context_file)}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            children.append(child)
            code = child.wait()
        return name, code, time.perf_counter() - started

    records: list[dict[str, Any]] = []
    walls: dict[str, float] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(suites), os.cpu_count() or 1)))
    try:
        finished = list(pool.map(run_one, suites))
    except BaseException:
        # Ctrl-C or SIGTERM (turned into KeyboardInterrupt by the run): a child pytest never gets
        # a signal sent to us alone, and waiting for it would hold the stack up for minutes.
        stopping = True
        for child in children:
            child.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for name, code, seconds in finished:
        results = workdir / f"{name}.results.jsonl"
        lines = results.read_text("utf-8").split("\n") if results.exists() else []
        suite_records = [json.loads(line) for line in lines if line.strip()]
        out(f"  {name}: {len(suite_records)} tests in {seconds:.1f} s (pytest exit {code})")
        walls[name] = round(seconds, 3)
        if code not in (0, 1) or not suite_records:
            tail = (workdir / f"{name}.pytest.log").read_text("utf-8", errors="replace")[-1500:]
            suite_records.append({
                "suite": name, "name": f"run {SUITE_MODULES[name]}", "outcome": "error", "seconds": seconds,
                "cases": 0, "statuses": {}, "contract": None, "findings": [],
                "message": redact(f"pytest exited with {code}: {tail}",
                                  [s for s in (context.api_key, context.admin_token) if s]),
            })
        records += suite_records
    return records, walls


def run_suites(report: Report, endpoints: StackEndpoints, stack: Stack, options: LocalOptions,
               out: Callable[[str], None] = print) -> None:
    """Run the suites, then judge the hop journals.

    The proxy->MLflow journal is judged in full only for the traffic before the suites (the
    registration scenario: a real client's valid requests); what the fuzzers sent through the
    proxy afterwards is judged for credential leaks only.
    """
    scenario_entries = len(read_journal(endpoints.mlflow_journal)) if endpoints.mlflow_journal else 0
    root = files.contracts_root()
    contracts_dir = files.contracts_dir()
    assert stack.root is not None
    workdir = stack.root / "suites"
    workdir.mkdir(mode=0o700, exist_ok=True)
    context = SuiteContext(
        mode="local", proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url, mlflow_url=endpoints.mlflow_url,
        api_key=endpoints.api_key, admin_token=endpoints.admin_token, contracts_dir=contracts_dir,
        results_file=workdir / "results.jsonl", max_examples=options.max_examples or DEFAULT_MAX_EXAMPLES,
        suites=list(options.suites), mlflow_contract=options.mlflow_contract, proxy_contract=options.proxy_contract,
    )
    out("\n— Contract suites —")
    started = time.perf_counter()
    records, walls = run_pytest_suites(context, workdir, out) if context.suites else ([], {})
    report.timings.update({f"suites.{name}": seconds for name, seconds in walls.items()})
    report.timings["suites"] = round(time.perf_counter() - started, 3)

    deviations = KnownDeviations.load(contracts_dir / "known-deviations.yaml", root=root).for_mlflow(
        options.mlflow_version)
    today = date.today()
    report.warnings += [f"expired known deviation: {w}" for w in deviations.expired(today)]
    coverage = fold_records(report, records, deviations)

    journal_started = time.perf_counter()
    for hop, journal, contract_file in (
        (Hop.PROXY_TO_AUTH, endpoints.auth_journal, AUTH_CONTRACT),
        (Hop.PROXY_TO_MLFLOW, endpoints.mlflow_journal, options.mlflow_contract),
    ):
        if journal is None or not (contracts_dir / contract_file).exists():
            continue
        contract = Contract.load(contracts_dir / contract_file, root=root)
        entries = read_journal(journal)
        if hop is Hop.PROXY_TO_MLFLOW:
            judged = judge_journal(entries[:scenario_entries], contract, hop, forbid_credentials=True)
            judged += judge_journal(entries[scenario_entries:], contract, hop, forbid_credentials=True,
                                    leaks_only=True)
        else:
            judged = judge_journal(entries, contract, hop)
            if options.proxy_cmd is None and options.refresh_consumers:
                _refresh_consumer_expectations(entries, contract, contracts_dir / "consumers" / "mlflow-proxy.yaml",
                                               options.report_dir, out)
        findings = deviations.apply(judged, today)
        _add_check(report, "hop-journal", f"{hop} ({len(entries)} requests)", findings, outcome="passed",
                   seconds=0.0, cases=len(entries), message=f"{len(entries)} requests judged against {contract_file}")
        for operation, statuses in coverage_of(entries, contract).items():
            coverage.setdefault(contract.display_path, {}).setdefault(operation, set()).update(statuses)
    report.timings["hop_journals"] = round(time.perf_counter() - journal_started, 3)

    add_coverage(report, coverage, contracts_dir, root, (AUTH_CONTRACT, options.proxy_contract))
    failed = sum(c.status is CheckStatus.FAILED for c in report.checks)
    out(f"{len(records)} suite tests and the hop journals judged; {failed} checks failed, "
        f"{sum(not f.known for f in report.findings)} unknown findings")


def fold_records(report: Report, records: list[dict[str, Any]], deviations: KnownDeviations,
                 drop: Callable[[Finding], bool] | None = None) -> dict[str, dict[str, set[int]]]:
    """Turn the suites' result lines into checks and findings; return the statuses seen per operation.

    ``drop`` removes findings that are not the service's (a live run's gate answering instead of
    it); a test whose every finding was dropped is reported as skipped, not failed.
    """
    today = date.today()
    coverage: dict[str, dict[str, set[int]]] = {}
    for record in records:
        raw = [Finding.model_validate(f) for f in record["findings"]]
        kept = [f for f in raw if drop is None or not drop(f)]
        findings = deviations.apply(kept, today)
        outcome, message = record["outcome"], record["message"]
        if len(kept) < len(raw) and not any(not f.known for f in findings):
            outcome, message = "skipped", "stopped by the live run's gate (request budget or safety policy)"
        _add_check(report, record["suite"], record["name"], findings, outcome=outcome, seconds=record["seconds"],
                   cases=record["cases"], message=message)
        if record.get("contract"):
            for operation, statuses in record["statuses"].items():
                coverage.setdefault(record["contract"], {}).setdefault(operation, set()).update(statuses)
    return coverage


def add_coverage(report: Report, coverage: dict[str, dict[str, set[int]]], contracts_dir: Path, root: Path,
                 contract_files: tuple[str, ...] = (AUTH_CONTRACT, PROXY_CONTRACT)) -> None:
    """One coverage line per operation of each contract: exercised or not, with the statuses seen."""
    for contract_file in contract_files:
        path = contracts_dir / contract_file
        if not path.exists():
            continue
        contract = Contract.load(path, root=root)
        seen = coverage.get(contract.display_path, {})
        for operation in contract.operations:
            statuses = sorted(seen.get(operation.label, set()))
            report.coverage.append(OperationCoverage(contract=contract.display_path, operation=operation.label,
                                                     exercised=bool(statuses), statuses=statuses))


def _refresh_consumer_expectations(entries: list[Any], contract: Contract, committed: Path, report_dir: Path,
                                   out: Callable[[str], None]) -> None:
    """Refresh the committed consumer expectations from what the reference proxy really sent.

    ``sends`` in ``contracts/consumers/mlflow-proxy.yaml`` grows by any location the journal saw
    the proxy send that the file lacks (the file is rewritten only then, so a run normally leaves
    it untouched). ``reads`` stay hand-kept: a journal sees every field that arrived, not the ones
    the proxy uses; the full observation goes to ``REPORT_DIR/consumers/`` for review.
    """
    import yaml

    from hokusai_contracts.spec.consumers import expectations_from_journal, render_expectations

    existing = yaml.safe_load(committed.read_text("utf-8")) if committed.exists() else None
    observed = expectations_from_journal(entries, contract, existing=existing)
    target = report_dir / "consumers" / committed.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_expectations(observed), "utf-8")
    known = (existing or {}).get("operations") or {}
    grown = False
    for operation, seen in (observed.get("operations") or {}).items():
        new = sorted(set(seen.get("sends") or []) - set((known.get(operation) or {}).get("sends") or []))
        if new and existing is not None:
            # What the proxy sends is exact (the journal saw it arrive): that part of the committed
            # file is refreshed; what it reads stays hand-kept (a journal cannot tell what is read).
            entry = existing.setdefault("operations", {}).setdefault(operation, {"sends": [], "reads": {}})
            entry["sends"] = sorted(set(entry.get("sends") or []) | set(new))
            grown = True
            out(f"The proxy now sends {', '.join(new)} on {operation}: added to {committed.name}; review the diff.")
    if grown and existing is not None:
        committed.write_text(render_expectations(existing), "utf-8")


def _add_check(report: Report, suite: str, name: str, findings: list[Finding], *, outcome: str, seconds: float,
               cases: int, message: str) -> None:
    """One check record; ``outcome`` is pytest's: passed, failed (an assertion) or error (a crash)."""
    ids = [report.add_finding(f) for f in findings]
    unknown = [f for f in findings if not f.known]
    if outcome == "failed":
        status = CheckStatus.FAILED
    elif outcome == "skipped":
        status = CheckStatus.SKIPPED
    elif outcome != "passed":
        status = CheckStatus.ERROR
    elif unknown:
        status = CheckStatus.FAILED
        message = "; ".join(f"{f.kind.value} at {f.location} on {f.operation}" for f in unknown[:5])
    else:
        status = CheckStatus.PASSED
    report.checks.append(CheckRecord(suite=suite, name=name, status=status, seconds=seconds, cases=cases,
                                     message=message, finding_ids=sorted(set(ids))))
