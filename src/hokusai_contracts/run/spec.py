"""``hokusai-contracts spec-check PATH``: is a candidate auth-service spec safe to publish?

Two checks, one report (mode ``spec``):

- **static** (always): ``contracts/auth-service.yaml`` diffed against the candidate, each change
  judged from the consumer's side and matched against the known consumers
  (``contracts/consumers/*.yaml``): one ``spec-diff`` check per change, failed when breaking.
- **dynamic** (unless ``--no-dynamic``): the local stack (fake auth service on the *current*
  contract, reference proxy, MLflow) runs the registration scenario once; every request the proxy
  sent to the auth service (the proxy->auth hop journal) is judged against the *candidate*. A
  finding is something the proxy sends today that the candidate would reject. Findings the
  current contract raises as well are not the candidate's doing and are left out (named in the
  check's message). One ``spec-dynamic`` check.

Exit code (``spec_exit_code``): 1 when a change is breaking or the dynamic check found anything,
else 2 when the dynamic check could not run (stack or scenario failure: compatibility unproven),
else 0. An unusable candidate raises ``ContractError`` (exit 2) before anything is written.

Besides the usual report files, ``REPORT_DIR/spec-changes.json`` lists every change
(``SpecChange`` fields plus ``consumers``, the known consumers it breaks), in diff order.

Layering: this module is a *command*, like ``local_run``: its dynamic check drives the stack, so
it imports ``stack`` (lazily, inside the functions that need it). The rest of ``spec`` never does,
and ``spec/__init__`` does not import this module.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hokusai_contracts import __version__
from hokusai_contracts._errors import HokusaiContractsError, StackError
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report, Targets
from hokusai_contracts.report.writers import write_reports
from hokusai_contracts.spec.consumers import impact, load_consumers
from hokusai_contracts.spec.diff import Severity, SpecChange, diff_specs

if TYPE_CHECKING:
    from hokusai_contracts.journal.recording import JournalEntry

__all__ = ["SPEC_CHANGES_FILE", "judge_against_candidate", "main", "run_spec_check", "spec_exit_code"]

SPEC_CHANGES_FILE = "spec-changes.json"
CURRENT_CONTRACT = Path("contracts") / "auth-service.yaml"
CONSUMERS_DIR = Path("contracts") / "consumers"
DIFF_SUITE = "spec-diff"
DYNAMIC_SUITE = "spec-dynamic"

Out = Callable[[str], None]


def run_spec_check(candidate: Path, *, report_dir: Path, dynamic: bool = True, out: Out = print) -> Report:
    """Check ``candidate`` against the current auth contract; write the reports into ``report_dir``.

    Raises ``ContractError`` (exit code 2) if the candidate, the current contract or a consumer
    expectations file is unusable; nothing is written then.
    """
    root = _project_root()
    report = Report(tool_version=__version__, mode="spec")
    started = time.perf_counter()
    current = Contract.load(files.contracts_dir() / CURRENT_CONTRACT.name, root)
    proposed = Contract.load(candidate, root)
    consumers = load_consumers(files.contracts_dir() / CONSUMERS_DIR.name, root)
    changes = impact(diff_specs(current, proposed), consumers)
    report.timings["spec_diff"] = round(time.perf_counter() - started, 3)

    out(_verdict_line(changes))
    out(f"  {proposed.display_path} against {current.display_path}")
    for index, (change, broken) in enumerate(changes):
        out("")
        for line in _describe(change, broken):
            out(line)
        report.checks.append(_change_check(index, change, broken))
    sidecar = [{**change.model_dump(mode="json"), "consumers": broken} for change, broken in changes]

    if dynamic:
        out("\n— Dynamic check: what the reference proxy sends, judged against the candidate —")
        _dynamic_check(report, current, proposed, report_dir, out)

    report.finished_at = datetime.now(UTC)
    report.summarise_suites()
    write_reports(report, report_dir)
    (report_dir / SPEC_CHANGES_FILE).write_text(json.dumps(sidecar, indent=2) + "\n", "utf-8")
    code = spec_exit_code(report)
    result = {0: "COMPATIBLE", 1: "BREAKING", 2: "UNPROVEN (the dynamic check could not run)"}[code]
    out(f"\nSpec check: {result}. Report: {report_dir / 'contract-report.md'}; "
        f"changes: {report_dir / SPEC_CHANGES_FILE}")
    return report


def spec_exit_code(report: Report) -> int:
    """1 breaking (a change or a dynamic finding), else 2 if a check could not run, else 0."""
    if any(c.status is CheckStatus.FAILED for c in report.checks) or any(not f.known for f in report.findings):
        return 1
    if any(c.status is CheckStatus.ERROR for c in report.checks):
        return 2
    return 0


# -- static ----------------------------------------------------------------------------------

def _verdict_line(changes: Sequence[tuple[SpecChange, list[str]]]) -> str:
    if not changes:
        return "Verdict: COMPATIBLE (no changes)"
    breaking = [(c, who) for c, who in changes if c.severity is Severity.BREAKING]
    compatible = len(changes) - len(breaking)
    counts = f"{len(breaking)} breaking, {compatible} compatible"
    if not breaking:
        return f"Verdict: COMPATIBLE ({counts})"
    hitting = [who for _, who in breaking if who]
    names = ", ".join(sorted({name for who in hitting for name in who})) or "a known consumer"
    return f"Verdict: BREAKING ({counts}; {len(hitting)} break{'s' if len(hitting) == 1 else ''} {names})"


def _detail(change: SpecChange) -> str:
    """The summary without its ``METHOD /path location: `` prefix, which the line above shows."""
    return change.summary.removeprefix(f"{change.operation} {change.location}: ")


def _impact(change: SpecChange, broken: Sequence[str]) -> str:
    """Which known consumers the change breaks; a compatible change breaks nobody, even those it touches."""
    if change.severity is Severity.BREAKING:
        return f"breaks {', '.join(broken)}" if broken else "breaks nobody we know of"
    return f"breaks nobody (touches {', '.join(broken)}, compatibly)" if broken else "breaks nobody"


def _describe(change: SpecChange, broken: Sequence[str]) -> list[str]:
    lines = [
        f"  {change.severity.value.upper():<10} {change.kind.value}  {change.operation}  {change.location}",
        f"    {_detail(change)}",
        f"    current:   {change.current or '(none)'}",
        f"    candidate: {change.candidate or '(none)'}",
    ]
    lines.append(f"    {_impact(change, broken)}")
    if change.severity is Severity.BREAKING:
        lines.append(f"    fix: {change.recommendation}")
    return lines


def _change_check(index: int, change: SpecChange, broken: list[str]) -> CheckRecord:
    breaking = change.severity is Severity.BREAKING
    # The Markdown report shows a message's first 200 characters: what and whom first, then where.
    message = (f"{change.summary}. {change.severity.value.capitalize()}: {_impact(change, broken)} "
               f"[{SPEC_CHANGES_FILE} #{index}]. Current {change.current or '(none)'}; "
               f"candidate {change.candidate or '(none)'}. Fix: {change.recommendation}")
    return CheckRecord(suite=DIFF_SUITE, name=f"{change.kind.value} {change.operation} {change.location}",
                       status=CheckStatus.FAILED if breaking else CheckStatus.PASSED, operation=change.operation,
                       message=message)


# -- dynamic ---------------------------------------------------------------------------------

def _dynamic_check(report: Report, current: Contract, candidate: Contract, report_dir: Path, out: Out) -> None:
    """Record the proxy->auth hop over one registration, judge it against the candidate, add one check."""
    name = f"{Hop.PROXY_TO_AUTH} journal against {candidate.display_path}"
    started = time.perf_counter()
    try:
        entries, scenario_error = _record_proxy_to_auth(report, report_dir, out)
    except StackError as exc:
        out(f"✗ The local stack could not start: {exc}")
        report.checks.append(CheckRecord(suite=DYNAMIC_SUITE, name=name, status=CheckStatus.ERROR,
                                         seconds=round(time.perf_counter() - started, 3),
                                         message=f"the local stack could not start: {exc}"))
        return
    judging = time.perf_counter()
    findings, preexisting = judge_against_candidate(entries, current, candidate)
    report.timings["hop_journals"] = round(time.perf_counter() - judging, 3)
    ids = sorted({report.add_finding(f) for f in findings})
    judged = f"{len(entries)} requests the proxy sent to the auth service, judged against {candidate.display_path}"
    notes = []
    if preexisting:
        notes.append(f"left out, as the current contract raises them too: "
                     f"{'; '.join(_finding_text(f) for f in preexisting)}")
    if scenario_error:
        notes.append(f"the registration scenario failed ({scenario_error}), so the journal may miss calls")
    if findings:
        status = CheckStatus.FAILED
        summary = f"the candidate rejects what the proxy sends: {'; '.join(_finding_text(f) for f in findings)}"
    elif scenario_error:
        status = CheckStatus.ERROR
        summary = "nothing rejected in what was recorded"
    else:
        status = CheckStatus.PASSED
        summary = "the candidate accepts every request"
    message = ". ".join([f"{judged}: {summary}", *notes])
    report.checks.append(CheckRecord(suite=DYNAMIC_SUITE, name=name, status=status, operation=None,
                                     seconds=round(time.perf_counter() - started, 3), cases=len(entries),
                                     message=message, finding_ids=ids))
    mark = {CheckStatus.PASSED: "✓", CheckStatus.FAILED: "✗"}.get(status, "!")
    out(f"{mark} {message}")
    for finding in findings:
        out(f"    {finding.kind.value} at {finding.location} on {finding.operation} ({finding.count}×): "
            f"expected {finding.expected}, observed {finding.observed}")
        if finding.contract:
            out(f"      {finding.contract}")


def judge_against_candidate(entries: Sequence[JournalEntry], current: Contract,
                            candidate: Contract) -> tuple[list[Finding], list[Finding]]:
    """(new, pre-existing): findings of ``entries`` against the candidate that the current contract
    does not raise, and those it raises as well (same hop, operation, kind, location)."""
    from hokusai_contracts.journal.judging import judge_journal

    before = {f.identity() for f in judge_journal(entries, current, Hop.PROXY_TO_AUTH, suite=DYNAMIC_SUITE)}
    after = judge_journal(entries, candidate, Hop.PROXY_TO_AUTH, suite=DYNAMIC_SUITE)
    return [f for f in after if f.identity() not in before], [f for f in after if f.identity() in before]


def _record_proxy_to_auth(report: Report, report_dir: Path, out: Out) -> tuple[list[JournalEntry], str | None]:
    """Start the local stack, register one model, return the proxy->auth journal and the failed step."""
    from hokusai_contracts.checks.scenario import run_registration
    from hokusai_contracts.journal.recording import read_journal
    from hokusai_contracts.stack.definition import StackDefinition
    from hokusai_contracts.stack.processes import running_stack

    with running_stack(StackDefinition(), keep_logs_in=report_dir / "logs") as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        report.timings.update({k: round(v, 3) for k, v in stack.timings.items()})
        report.targets = Targets(proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url,
                                 mlflow_url=endpoints.mlflow_url)
        if endpoints.auth_journal is None:
            raise StackError("the local stack runs without hop journals: nothing records what the proxy sends")
        started = time.perf_counter()
        result = run_registration(endpoints.proxy_url, endpoints.api_key,
                                  health_url=endpoints.proxy_url + "/health/mlflow", out=out)
        report.timings[f"scenario.{result.model_kind.value}"] = round(time.perf_counter() - started, 3)
        failed = result.failed_step
        entries = read_journal(endpoints.auth_journal)  # before the stack's directory is removed
    report.timings.update({k: round(v, 3) for k, v in stack.timings.items() if k == "stop"})
    return entries, (f"{failed.name}: {failed.detail}" if failed else None)


def _finding_text(finding: Finding) -> str:
    return f"{finding.kind.value} at {finding.location} on {finding.operation}"


def _project_root() -> Path:
    return files.contracts_root()


# -- command line ----------------------------------------------------------------------------

def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ``spec-check`` options, added to ``parser`` (a CLI subparser) or to a new parser."""
    parser = parser or argparse.ArgumentParser(prog="hokusai-contracts spec-check",
                                               description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("path", type=Path, metavar="PATH", help="the candidate auth-service OpenAPI document")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    parser.add_argument("--no-dynamic", action="store_true",
                        help="only the static diff: do not start the local stack")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hokusai_contracts.run.spec``: what ``hokusai-contracts spec-check`` does."""
    parser = build_parser()
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    try:
        report = run_spec_check(args.path, report_dir=args.report_dir, dynamic=not args.no_dynamic)
    except HokusaiContractsError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"hokusai-contracts: error: {exc}\n")  # as cli.main does
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("hokusai-contracts: interrupted; the stack was stopped.\n")
        return 130
    return spec_exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
