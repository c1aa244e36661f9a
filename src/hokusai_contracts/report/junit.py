"""JUnit XML for CI dashboards: a testsuite per suite, a testcase per check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hokusai_contracts.report.model import CheckStatus, Report

__all__ = ["write_junit"]

# What XML 1.0 cannot hold at all, even escaped: control characters but tab and line breaks, lone
# surrogates, U+FFFE/U+FFFF. ElementTree writes them as they are, and the file no longer parses.
_NOT_XML = re.compile(r"[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def _xml(text: str) -> str:
    """``text`` with each character XML cannot hold shown as its escape (``\\x1b``) instead."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def write_junit(report: Report, path: Path) -> None:
    root = ET.Element("testsuites", name=f"hokusai-contracts {report.mode}")
    by_suite: dict[str, list[int]] = {}
    for index, check in enumerate(report.checks):
        by_suite.setdefault(check.suite, []).append(index)
    for suite, indexes in by_suite.items():
        checks = [report.checks[i] for i in indexes]
        element = ET.SubElement(
            root, "testsuite", name=_xml(suite), tests=str(len(checks)),
            failures=str(sum(c.status is CheckStatus.FAILED for c in checks)),
            errors=str(sum(c.status is CheckStatus.ERROR for c in checks)),
            skipped=str(sum(c.status is CheckStatus.SKIPPED for c in checks)),
            time=f"{sum(c.seconds for c in checks):.3f}",
        )
        for check in checks:
            case = ET.SubElement(element, "testcase", classname=_xml(suite), name=_xml(check.name),
                                 time=f"{check.seconds:.3f}")
            if check.status in (CheckStatus.FAILED, CheckStatus.ERROR):
                tag = "failure" if check.status is CheckStatus.FAILED else "error"
                details = [report.findings[i] for i in check.finding_ids if i < len(report.findings)]
                text = "\n".join(
                    f"[{f.hop}] {f.operation} {f.kind.value} at {f.location}: expected {f.expected}; "
                    f"observed {f.observed}. {f.recommendation}" for f in details
                ) or check.message
                failure = ET.SubElement(case, tag, message=_xml(check.message[:500]) or tag)
                failure.text = _xml(text)
            elif check.status is CheckStatus.SKIPPED:
                ET.SubElement(case, "skipped", message=_xml(check.message[:500]))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
