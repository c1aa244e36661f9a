"""The human report, in the spirit of the seeds' FINAL_TEST_REPORT.

Pass/fail first; then the diagnosis; then the causes (``report.causes``), what blocks a
registration first, each with its example exchange as a short Mermaid sequence diagram and a
``curl`` to reproduce it (credentials as environment references); then the failed checks and
every finding grouped by hop; coverage and timings last.
"""

from __future__ import annotations

import re
from pathlib import Path

from hokusai_contracts.domain.findings import Cause, Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report

__all__ = ["render_markdown", "write_markdown"]

_ACTOR = {"client": "Client", "proxy": "Proxy", "auth": "Auth", "mlflow": "MLflow"}
# Line breaks end a table row, a list item or a heading; other control characters are noise at best.
_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _inline(text: object) -> str:
    """``text`` on one line: what a finding quotes from an answer may hold anything."""
    return _CONTROL.sub("", _BREAKS.sub(" ", str(text)))


def _cell(text: object, limit: int | None = None) -> str:
    """A table cell: one line, and a ``|`` escaped so that it does not end the cell (code spans too)."""
    value = _inline(text)
    return (value[:limit] if limit else value).replace("|", "\\|")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside ``text``, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _sequence(finding: Finding) -> list[str]:
    sender, receiver = _ACTOR[finding.hop.sender], _ACTOR[finding.hop.receiver]
    lines = ["```mermaid", "sequenceDiagram"]
    if finding.hop in (Hop.PROXY_TO_AUTH, Hop.PROXY_TO_MLFLOW):
        lines.append("    Client->>Proxy: MLflow call (Bearer key)")
    exchange = finding.exchanges[0] if finding.exchanges else None
    request = f"{exchange.method} {exchange.url}" if exchange else finding.operation
    lines.append(f"    {sender}->>{receiver}: {_mermaid_text(request)}")
    answer = (f"{exchange.status}" if exchange and exchange.status is not None
              else (exchange.error if exchange and exchange.error else "(answer)"))
    lines.append(f"    {receiver}-->>{sender}: {_mermaid_text(str(answer))}")
    lines.append(f"    Note over {sender},{receiver}: {finding.kind.value} at {_mermaid_text(finding.location)}")
    lines.append("```")
    return lines


def _mermaid_text(text: str) -> str:
    # Mermaid ends a message at ';' or a newline and treats '#' as an entity start.
    return _inline(text).replace(";", ",").replace("#", "")[:120]


def _code(text: str, language: str = "sh") -> list[str]:
    text = _CONTROL.sub("", text)
    fence = _fence(text)
    return [fence + language, text, fence, ""]


def _cause_section(cause: Cause, example: Finding) -> list[str]:
    where = "on the registration's path" if cause.on_registration_path else "seen only by fuzzing"
    known = " — known deviation" if cause.known else ""
    shown = ", ".join(f"`{_inline(o)}`" for o in cause.operations[:20])
    more = f" and {len(cause.operations) - 20} more" if len(cause.operations) > 20 else ""
    lines = [
        f"### {cause.id}. `{cause.kind.value}` at `{_inline(cause.location)}` on `{cause.hop}`{known}",
        "",
        f"- **Seen**: {cause.count}× on {len(cause.operations)} operation(s), {where}: {shown}{more}",
        f"- **Shape**: `{_inline(cause.shape)}`",
        f"- **Contract**: `{cause.contract}`" if cause.contract else "- **Contract**: (none)",
        f"- **Expected**: {_inline(cause.expected)}",
        f"- **Observed** (first): {_inline(cause.observed)}",
        f"- **Recommendation**: {_inline(cause.recommendation)}",
        f"- **Findings**: {', '.join(f'#{i + 1}' for i in cause.finding_ids[:30])}",
        "",
    ]
    if example.exchanges:
        lines += _sequence(example) + [""]
    if cause.reproduction:
        lines += _code(cause.reproduction)
    return lines


def _finding_section(number: int, finding: Finding) -> list[str]:
    known = f" — known deviation: {finding.known_reason}" if finding.known else ""
    known = _inline(known)
    cause = f" (cause {finding.cause})" if finding.cause else ""
    lines = [
        f"#### {number}. `{finding.kind.value}` on `{_inline(finding.operation)}`{known}{cause}",
        "",
        f"- **Hop**: `{finding.hop}`  **Location**: `{_inline(finding.location)}`  **Seen**: {finding.count}×",
        f"- **Contract**: `{finding.contract}`" if finding.contract else "- **Contract**: (none)",
        f"- **Expected**: {_inline(finding.expected)}",
        f"- **Observed**: {_inline(finding.observed)}",
        f"- **Recommendation**: {_inline(finding.recommendation)}",
        "",
    ]
    if finding.exchanges:
        lines += _sequence(finding) + [""]
    if finding.reproduction:
        lines += _code(finding.reproduction)
    return lines


def _replay_section(report: Report) -> list[str]:
    reproduced = sum(r.reproduced for r in report.replay)
    lines = [f"## Replay ({reproduced} of {len(report.replay)} recorded exchanges reproduced)", "",
             "Each client->proxy exchange of the recording, sent again to the local stack in order.", "",
             "| # | request | recorded | replayed | reproduced |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.index} | `{_cell(r.method + ' ' + r.path, 120)}` | "
              f"{r.recorded_status} {_cell(r.recorded_shape)} | {r.replayed_status} {_cell(r.replayed_shape)} | "
              f"{'yes' if r.reproduced else '**no**'}{(' (' + _cell(r.note, 120) + ')') if r.note else ''} |"
              for r in report.replay]
    return lines + [""]


def render_markdown(report: Report) -> str:
    """The report top-down: what failed and why first, then each finding, then what was seen and measured."""
    lines = _head(report)
    lines += _diagnosis_section(report)
    lines += _causes_section(report)
    lines += _failed_checks_section(report)
    if report.replay:
        lines += _replay_section(report)
    lines += _findings_by_hop_section(report)
    lines += _known_section(report)
    lines += _tables(report)
    return "\n".join(lines)


def _failed(report: Report) -> list[CheckRecord]:
    return [c for c in report.checks if c.status in (CheckStatus.FAILED, CheckStatus.ERROR)]


def _head(report: Report) -> list[str]:
    verdict = "✅ PASS" if report.verdict == "pass" else "❌ FAIL"
    unknown = [f for f in report.findings if not f.known]
    lines = [
        f"# Contract report ({report.mode}): {verdict}",
        "",
        f"{len(report.checks)} checks, {len(_failed(report))} failed; {len(report.findings)} findings, "
        f"{len(unknown)} unknown. Started {report.started_at:%Y-%m-%d %H:%M:%S} UTC.",
        "",
    ]
    if report.targets.proxy_url or report.targets.auth_url:
        lines += [f"Targets: proxy `{report.targets.proxy_url}` ({_inline(report.targets.proxy)}), auth "
                  f"`{report.targets.auth_url}`, MLflow `{report.targets.mlflow_url}`.", ""]
    return lines


def _diagnosis_section(report: Report) -> list[str]:
    if not report.diagnosis:
        return []
    lines = ["## Diagnosis", ""]
    for rank, item in enumerate(report.diagnosis, 1):
        lines.append(f"{rank}. **{item.category.value}** ({item.confidence:.0%}): {_inline(item.summary)}")
        lines += [f"   - evidence: {_inline(e)}" for e in item.evidence]
        lines.append(f"   - recommendation: {_inline(item.recommendation)}")
    return [*lines, ""]


def _causes_section(report: Report) -> list[str]:
    causes = [c for c in report.causes if not c.known]
    if not causes:
        return []
    unknown = [f for f in report.findings if not f.known]
    lines = [f"## Causes ({len(causes)}, from {len(unknown)} unknown findings)", "",
             "What blocks a registration first; each cause is one defect seen on every operation listed.", ""]
    for cause in causes:
        lines += _cause_section(cause, report.findings[cause.finding_ids[0]])
    return lines


def _failed_checks_section(report: Report) -> list[str]:
    failed = _failed(report)
    if not failed:
        return []
    lines = ["## Failed checks", "", "| suite | check | message |", "| --- | --- | --- |"]
    lines += [f"| {_cell(c.suite)} | {_cell(c.name)} | {_cell(c.message, 200)} |" for c in failed]
    return [*lines, ""]


def _findings_by_hop_section(report: Report) -> list[str]:
    unknown_findings = [f for f in report.findings if not f.known]
    lines = ["## Findings by hop", ""]
    if not unknown_findings:
        lines += ["No unknown findings.", ""]
    number = {id(f): index + 1 for index, f in enumerate(report.findings)}
    for hop in Hop:
        on_hop = [f for f in unknown_findings if f.hop is hop]
        if not on_hop:
            continue
        lines += [f"### `{hop}`", ""]
        for finding in on_hop:
            lines += _finding_section(number[id(finding)], finding)
    return lines


def _known_section(report: Report) -> list[str]:
    known = [f for f in report.findings if f.known]
    if not known:
        return []
    lines = [f"## Known deviations seen ({len(known)})", "",
             "Reported, not failing: each matches a reviewed entry of `contracts/known-deviations.yaml`.", "",
             "| hop | operation | kind | location | seen | why |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| `{f.hop}` | `{_cell(f.operation)}` | {f.kind.value} | `{_cell(f.location)}` | {f.count} | "
              f"{_cell(f.known_reason or '', 160)} |" for f in known]
    return [*lines, ""]


def _tables(report: Report) -> list[str]:
    """What the run covered, how long each part took, and what it warned about."""
    lines: list[str] = []
    if report.coverage:
        exercised = sum(c.exercised for c in report.coverage)
        lines += ["## Coverage", "", f"{exercised} of {len(report.coverage)} contract operations exercised.", "",
                  "| contract | operation | exercised | statuses |", "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(c.contract)} | `{_cell(c.operation)}` | {'yes' if c.exercised else '**no**'} | "
                  f"{', '.join(map(str, c.statuses))} |" for c in report.coverage]
        lines.append("")
    if report.suites:
        lines += ["## Suites", "", "| suite | passed | failed | skipped | errors | cases | seconds |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {_cell(s.name)} | {s.passed} | {s.failed} | {s.skipped} | {s.errors} | {s.cases} | "
                  f"{s.seconds:.1f} |" for s in report.suites]
        lines.append("")
    if report.timings:
        lines += ["## Timings", "", "| phase | seconds |", "| --- | --- |"]
        lines += [f"| {_cell(name)} | {seconds:.2f} |" for name, seconds in report.timings.items()]
        lines.append("")
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- {_inline(w)}" for w in report.warnings] + [""]
    return lines


def write_markdown(report: Report, path: Path) -> None:
    path.write_text(render_markdown(report), "utf-8")
