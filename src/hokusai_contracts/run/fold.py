"""The fold: the one place a run's phase results become its report.

Every ``PhaseResult`` passes ``Fold.add`` in the order the phases ran, whatever made it (the
suites, a probe, the journals, a live check, the spec diff), and the same rules apply to all:

1. known deviations (``contracts/known-deviations.yaml``) mark matching findings ``known``;
2. equal findings (same hop, operation, kind, location) merge into one, counted;
3. each check's status follows from its own verdict and its findings (``report.phase.Check``);
4. timings, metrics, warnings, coverage and targets are gathered.

``Fold.finish`` then builds the coverage table, summarises the suites, writes a curl for every
finding that has an exchange and none (``reproduce``), groups the findings into ranked causes
(``report.causes``) and diagnoses; ``write``
puts every report file in the report directory. Because a result is folded as soon as its phase
ends, later phases (and later features: causes, judging a journal while the scenario runs) see
the report as it stands, through ``report.phase.RunState``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Diagnosis, Finding
from hokusai_contracts.domain.reproduction import curl_of_exchanges, with_env_references
from hokusai_contracts.report.causes import build_causes
from hokusai_contracts.report.diagnosis import diagnose
from hokusai_contracts.report.model import CheckRecord, CheckStatus, OperationCoverage, Report, Targets
from hokusai_contracts.report.phase import Check, Coverage, PhaseResult, UnknownNote
from hokusai_contracts.report.writers import write_reports

__all__ = ["Fold", "mark", "reproduce", "settle"]

Diagnose = Callable[[Report], list[Diagnosis]]
_MARKS = {CheckStatus.FAILED: "✗", CheckStatus.ERROR: "✗", CheckStatus.SKIPPED: "-"}


def mark(status: CheckStatus) -> str:
    """How a settled check's status shows at the start of its line."""
    return _MARKS.get(status, "✓")


class Fold:
    def __init__(self, report: Report, deviations: KnownDeviations, *, today: date | None = None,
                 coverage_of: Sequence[Contract] = (), diagnosis: Diagnose | None = diagnose,
                 out: Callable[[str], None] | None = None) -> None:
        """``coverage_of``: the contracts whose operations the coverage table lists, if a phase saw any;
        ``out`` prints the checks that ask to be announced, with their settled status."""
        self.report = report
        self.out = out
        self.deviations = deviations
        self.today = today or date.today()
        self.coverage_of = list(coverage_of)
        self.diagnosis = diagnosis
        self.coverage: Coverage | None = None
        #: Where the suites' verdict lines go (``run_phases`` sets the run's output).
        self.verdict_out: Callable[[str], None] | None = out
        self.files: dict[str, str] = {}
        report.warnings += [f"expired known deviation: {w}" for w in deviations.expired(self.today)]

    def judge(self, findings: Sequence[Finding]) -> list[Finding]:
        return self.deviations.apply(findings, self.today)

    def add(self, result: PhaseResult) -> None:
        report = self.report
        # Checks before loose findings: a phase's conclusion comes after what it concluded from.
        for check in result.checks:
            findings = self.judge(check.findings)
            ids = sorted({report.add_finding(f) for f in findings})
            record = settle(check, findings, ids)
            report.checks.append(record)
            if check.announce and self.out is not None:
                self.out(f"{mark(record.status)} [{record.suite}] {record.name}: {record.message}")
        if result.announce_suites and self.verdict_out is not None:
            self._suite_lines(report.checks[len(report.checks) - len(result.checks):])
        for finding in self.judge(result.findings):
            report.add_finding(finding)
        report.timings.update(result.timings)
        report.metrics.update(result.metrics)
        report.warnings += result.warnings
        if result.coverage is not None:
            if self.coverage is None:
                self.coverage = Coverage()
            self.coverage.merge(result.coverage)
        if result.targets is not None:
            report.targets = result.targets
        self.files.update(result.files)
        report.replay += result.replay

    def _suite_lines(self, records: Sequence[CheckRecord]) -> None:
        """Each suite's own verdict: its failed checks and its unknown findings, known ones set apart."""
        assert self.verdict_out is not None
        for suite in dict.fromkeys(r.suite for r in records):
            mine = [r for r in records if r.suite == suite]
            failed = sum(r.status in (CheckStatus.FAILED, CheckStatus.ERROR) for r in mine)
            found = [self.report.findings[i] for i in sorted({i for r in mine for i in r.finding_ids})]
            unknown = sum(not f.known for f in found)
            mark = "✗" if failed or unknown else "✓"
            self.verdict_out(f"{mark} {suite}: {len(mine)} checks, {failed} failed, {unknown} unknown findings"
                     f"{f' ({len(found) - unknown} known)' if len(found) > unknown else ''}")

    def finish(self, rewrite: Callable[[str], str] | None = None) -> Report:
        """The finished report; ``rewrite`` maps its whole JSON text (a live run's real URLs, masking)."""
        if self.coverage is not None:
            self.report.coverage = coverage_table(self.coverage, self.coverage_of)
        if rewrite is not None:
            self.report = Report.model_validate_json(rewrite(self.report.model_dump_json()))
        report = self.report
        report.finished_at = datetime.now(UTC)
        report.summarise_suites()
        reproduce(report.findings, report.targets)
        report.causes = build_causes(report.findings)
        if self.diagnosis is not None:
            report.diagnosis = self.diagnosis(report)
        return report

    def write(self, report_dir: Path) -> list[Path]:
        """The report files and any a phase asked for, into ``report_dir``."""
        paths = write_reports(self.report, report_dir)
        for name, text in self.files.items():
            (report_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (report_dir / name).write_text(text, "utf-8")
            paths.append(report_dir / name)
        return paths


def reproduce(findings: Sequence[Finding], targets: Targets) -> None:
    """A curl for every finding that has none, from its exchanges, whoever made it (journal, probe, check).

    A hop finding's request is sent to the hop's receiver, whose URL the run's targets give.
    """
    urls = {"proxy": targets.proxy_url, "auth": targets.auth_url, "mlflow": targets.mlflow_url}
    for finding in findings:
        if finding.reproduction:
            finding.reproduction = with_env_references(finding.reproduction)
        elif finding.exchanges:
            finding.reproduction = curl_of_exchanges(finding.exchanges, urls.get(finding.hop.receiver),
                                                     cause_base_url=targets.proxy_url)


def settle(check: Check, findings: Sequence[Finding], ids: list[int]) -> CheckRecord:
    """A check's record: its own verdict, failed by any finding left unknown (see ``Check.status``)."""
    status, message = check.status, check.message
    unknown = [f for f in findings if not f.known]
    if unknown:
        if check.note is UnknownNote.REPLACE and status is CheckStatus.PASSED:
            status = CheckStatus.FAILED
            message = "; ".join(f"{f.kind.value} at {f.location} on {f.operation}" for f in unknown[:5])
        elif status in (CheckStatus.PASSED, CheckStatus.SKIPPED) and check.note is not UnknownNote.REPLACE:
            status = CheckStatus.FAILED
            if check.note is UnknownNote.APPEND:
                message += "; " + "; ".join(f"{f.kind.value} at {f.location}" for f in unknown[:3])
    elif check.if_all_known is not None:
        status, message = check.if_all_known.status, check.if_all_known.message
    return CheckRecord(suite=check.suite, name=check.name, status=status, operation=check.operation,
                       seconds=check.seconds, message=message, cases=check.cases, finding_ids=ids,
                       evidence=check.evidence)


def coverage_table(coverage: Coverage, contracts: Sequence[Contract]) -> list[OperationCoverage]:
    """One line per operation of each contract: exercised or not, with the statuses seen."""
    table = []
    for contract in contracts:
        seen = coverage.seen.get(contract.display_path, {})
        for operation in contract.operations:
            statuses = sorted(seen.get(operation.label, set()))
            table.append(OperationCoverage(contract=contract.display_path, operation=operation.label,
                                           exercised=bool(statuses), statuses=statuses))
    return table
