"""What every run command prints when its report is written: diagnosis, warnings, causes, where the report is."""

from __future__ import annotations

from pathlib import Path

from hokusai_contracts.report.model import Report

__all__ = ["print_outcome"]


def print_outcome(report: Report, report_dir: Path) -> None:
    from hokusai_contracts.report.causes import cause_lines

    unknown = sum(not f.known for f in report.findings)
    for item in report.diagnosis:
        print(f"Diagnosis: {item.category.value} ({item.confidence:.0%}): {item.summary}. {item.recommendation}")
    for warning in report.warnings:
        print(f"Warning: {warning}")
    for line in cause_lines(report):
        print(line)
    print(f"\nReport: {report_dir / 'contract-report.md'} (verdict {report.verdict.upper()}, "
          f"{len(report.findings)} findings, {unknown} unknown)")
