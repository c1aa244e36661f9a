"""Write every form of a report into ``REPORT_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hokusai_contracts.domain.redact import redact
from hokusai_contracts.report.junit import write_junit
from hokusai_contracts.report.markdown import write_markdown
from hokusai_contracts.report.model import Report, write_json

__all__ = ["REPORT_FILES", "mask_secrets", "write_reports"]

REPORT_FILES = ("contract-report.json", "junit.xml", "contract-report.md")


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        # A lone surrogate (bytes decoded with surrogateescape) cannot be written as UTF-8 at all.
        return redact(value).encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


def mask_secrets(report: Report) -> None:
    """Mask, in place, every secret the process knows in every string of ``report``.

    The last net before the files: a check message or warning built from an answer or a log may
    hold what no builder thought of. In place, so that what the command prints afterwards is
    masked too. Strings that UTF-8 cannot encode get their odd characters escaped on the way.
    """
    clean = Report.model_validate(_cleaned(report.model_dump(mode="python", exclude={"verdict"})))
    for name in Report.model_fields:
        setattr(report, name, getattr(clean, name))


def write_reports(report: Report, report_dir: Path) -> list[Path]:
    mask_secrets(report)
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = [report_dir / name for name in REPORT_FILES]
    write_json(report, paths[0])
    write_junit(report, paths[1])
    write_markdown(report, paths[2])
    return paths
