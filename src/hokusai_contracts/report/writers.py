"""Write every form of a report into ``REPORT_DIR``."""

from __future__ import annotations

from pathlib import Path

from hokusai_contracts.report.junit import write_junit
from hokusai_contracts.report.markdown import write_markdown
from hokusai_contracts.report.model import Report, write_json

__all__ = ["REPORT_FILES", "write_reports"]

REPORT_FILES = ("contract-report.json", "junit.xml", "contract-report.md")


def write_reports(report: Report, report_dir: Path) -> list[Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = [report_dir / name for name in REPORT_FILES]
    write_json(report, paths[0])
    write_junit(report, paths[1])
    write_markdown(report, paths[2])
    return paths
