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

Targets: the candidate (and, for the dynamic check, a local stack this module starts: ``spec``
itself never imports the stack). Phases: the static diff, then the dynamic check.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hokusai_contracts import __version__
from hokusai_contracts._errors import StackError
from hokusai_contracts.checks.scenario import run_registration
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.report.causes import cause_lines
from hokusai_contracts.report.model import CheckStatus, Report, Targets
from hokusai_contracts.report.phase import Check, PhaseResult, RunState
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import Inputs, load_inputs, report_dir_ready
from hokusai_contracts.run.pipeline import Step, run_phases
from hokusai_contracts.spec.consumers import impact
from hokusai_contracts.spec.diff import Severity, SpecChange, diff_specs
from hokusai_contracts.spec.dynamic import judge_against_candidate
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import running_stack

__all__ = ["SPEC_CHANGES_FILE", "judge_against_candidate", "run_spec_check", "spec_exit_code"]

SPEC_CHANGES_FILE = "spec-changes.json"

Out = Callable[[str], None]


def run_spec_check(candidate: Path, *, report_dir: Path, dynamic: bool = True, out: Out = print) -> Report:
    """Check ``candidate`` against the current auth contract; write the reports into ``report_dir``.

    Raises ``ContractError`` (exit code 2) if the candidate, the current contract or a consumer
    expectations file is unusable; nothing is written then.
    """
    with report_dir_ready(report_dir):
        inputs = load_inputs()
        proposed = Contract.load(candidate, inputs.root)
        fold = Fold(Report(tool_version=__version__, mode="spec"), inputs.deviations, diagnosis=None)
        check = _SpecCheck(inputs, proposed, report_dir)
        phases = [Step(PhaseName.SPEC_DIFF, check.static),
                  Step(PhaseName.SPEC_DYNAMIC, check.dynamic, when=lambda state: dynamic)]
        run_phases(phases, fold, out)
        report = fold.finish()
        fold.write(report_dir)
    code = spec_exit_code(report)
    result = {0: "COMPATIBLE", 1: "BREAKING", 2: "UNPROVEN (the dynamic check could not run)"}[code]
    for line in cause_lines(report):
        out(line)
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


class _SpecCheck:
    def __init__(self, inputs: Inputs, candidate: Contract, report_dir: Path) -> None:
        self.current, self.candidate, self.inputs, self.report_dir = inputs.auth, candidate, inputs, report_dir

    def static(self, state: RunState) -> PhaseResult:
        started = time.perf_counter()
        changes = impact(diff_specs(self.current, self.candidate), self.inputs.consumers)
        result = PhaseResult(timings={PhaseName.SPEC_DIFF: round(time.perf_counter() - started, 3)})
        out = state.out
        out(_verdict_line(changes))
        out(f"  {self.candidate.display_path} against {self.current.display_path}")
        for index, (change, broken) in enumerate(changes):
            out("")
            for line in _describe(change, broken):
                out(line)
            result.checks.append(_change_check(index, change, broken, self.candidate))
        sidecar = [{**change.model_dump(mode="json"), "consumers": broken} for change, broken in changes]
        result.files[SPEC_CHANGES_FILE] = json.dumps(sidecar, indent=2) + "\n"
        return result

    def dynamic(self, state: RunState) -> PhaseResult:
        state.out("\n— Dynamic check: what the reference proxy sends, judged against the candidate —")
        return _dynamic_check(self.current, self.candidate, self.report_dir, state.out)


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


def _change_check(index: int, change: SpecChange, broken: list[str], candidate: Contract) -> Check:
    breaking = change.severity is Severity.BREAKING
    # The Markdown report shows a message's first 200 characters: what and whom first, then where.
    message = (f"{change.summary}. {change.severity.value.capitalize()}: {_impact(change, broken)} "
               f"[{SPEC_CHANGES_FILE} #{index}]. Current {change.current or '(none)'}; "
               f"candidate {change.candidate or '(none)'}. Fix: {change.recommendation}")
    return Check(suite=Suite.SPEC_DIFF, name=f"{change.kind.value} {change.operation} {change.location}",
                 status=CheckStatus.FAILED if breaking else CheckStatus.PASSED, operation=change.operation,
                 message=message, findings=[change_finding(change, broken, candidate)] if breaking else [])


def change_finding(change: SpecChange, broken: Sequence[str], candidate: Contract) -> Finding:
    """A breaking change as a finding on the hop it breaks: what the proxy sends to (reads from) the auth service."""
    return Finding(
        hop=Hop.PROXY_TO_AUTH, operation=change.operation, kind=FindingKind.BREAKING_CHANGE,
        location=change.location, contract=change.candidate or change.current,
        expected=f"{change.kind.value} kept compatible with the current contract "
                 f"({change.current or 'absent'})",
        observed=f"{_detail(change)}; {_impact(change, broken)}", recommendation=change.recommendation,
        suite=Suite.SPEC_DIFF,
        # No request reproduces a change to a document: the command that reports it again does.
        reproduction=f"hokusai-contracts spec-check {shlex.quote(candidate.display_path)} --no-dynamic",
    )


# -- dynamic ---------------------------------------------------------------------------------

def _dynamic_check(current: Contract, candidate: Contract, report_dir: Path, out: Out) -> PhaseResult:
    """Record the proxy->auth hop over one registration, judge it against the candidate: one check."""
    name = f"{Hop.PROXY_TO_AUTH} journal against {candidate.display_path}"
    started = time.perf_counter()
    result = PhaseResult()
    try:
        entries, scenario_error = _record_proxy_to_auth(result, report_dir, out)
    except StackError as exc:
        out(f"✗ The local stack could not start: {exc}")
        result.checks.append(Check(suite=Suite.SPEC_DYNAMIC, name=name, status=CheckStatus.ERROR,
                                   seconds=round(time.perf_counter() - started, 3),
                                   message=f"the local stack could not start: {exc}"))
        return result
    judging = time.perf_counter()
    findings, preexisting = judge_against_candidate(entries, current, candidate)
    result.timings[PhaseName.HOP_JOURNALS] = round(time.perf_counter() - judging, 3)
    judged = f"{len(entries)} requests the proxy sent to the auth service, judged against {candidate.display_path}"
    notes = []
    if preexisting:
        notes.append(f"left out, as the current contract raises them too: "
                     f"{'; '.join(_finding_text(f) for f in preexisting)}")
    if scenario_error:
        notes.append(f"the registration scenario failed ({scenario_error}), so the journal may miss calls")
    if findings:
        # Failed by the fold, unless a known deviation covers every one.
        status, summary = CheckStatus.PASSED, (
            f"the candidate rejects what the proxy sends: {'; '.join(_finding_text(f) for f in findings)}")
    elif scenario_error:
        status, summary = CheckStatus.ERROR, "nothing rejected in what was recorded"
    else:
        status, summary = CheckStatus.PASSED, "the candidate accepts every request"
    message = ". ".join([f"{judged}: {summary}", *notes])
    result.checks.append(Check(suite=Suite.SPEC_DYNAMIC, name=name, status=status, findings=findings,
                               seconds=round(time.perf_counter() - started, 3), cases=len(entries), message=message))
    mark = "✗" if findings else {CheckStatus.PASSED: "✓"}.get(status, "!")
    out(f"{mark} {message}")
    for finding in findings:
        out(f"    {finding.kind.value} at {finding.location} on {finding.operation} ({finding.count}×): "
            f"expected {finding.expected}, observed {finding.observed}")
        if finding.contract:
            out(f"      {finding.contract}")
    return result


def _record_proxy_to_auth(result: PhaseResult, report_dir: Path, out: Out) -> tuple[list[HttpExchange], str | None]:
    """Start the local stack, register one model, return the proxy->auth journal and the failed step."""
    with running_stack(StackDefinition(), keep_logs_in=report_dir / "logs") as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        result.timings.update({k: round(v, 3) for k, v in stack.timings.items()})
        result.targets = Targets(proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url,
                                 mlflow_url=endpoints.mlflow_url)
        if endpoints.auth_journal is None:
            raise StackError("the local stack runs without hop journals: nothing records what the proxy sends")
        started = time.perf_counter()
        scenario = run_registration(endpoints.proxy_url, endpoints.api_key,
                                    health_url=endpoints.proxy_url + "/health/mlflow", out=out)
        result.timings[f"{PhaseName.SCENARIO}.{scenario.model_kind.value}"] = round(time.perf_counter() - started, 3)
        failed = scenario.failed_step
        entries = read_journal(endpoints.auth_journal)  # before the stack's directory is removed
    result.timings.update({k: round(v, 3) for k, v in stack.timings.items() if k == "stop"})
    return entries, (f"{failed.name}: {failed.detail}" if failed else None)


def _finding_text(finding: Finding) -> str:
    return f"{finding.kind.value} at {finding.location} on {finding.operation}"
