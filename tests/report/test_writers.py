"""The written reports: they parse whatever a finding holds, and no secret of the run is in them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from hokusai_contracts import Exchange, Finding, FindingKind, Hop, mask
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import forget_secrets, register_secrets
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report
from hokusai_contracts.report.writers import write_reports

# What an answer, a fuzzed path or a log line quoted in a finding may hold.
NASTY = [
    "a | b || c",
    "first line\nsecond | line\r\nthird\rfourth",
    "bell \x07 escape \x1b[31m nul \x00 form feed \x0c",
    "<tag attr='x'> & &amp; ]]> <![CDATA[ x ]]>",
    "back\\|slash and `code | span` and ``` fence",
    "lone surrogate \udcff and \ufffe",
]


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def nasty_report() -> Report:
    report = Report(tool_version="t", mode="local")
    for number, text in enumerate(NASTY):
        index = report.add_finding(Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=f"GET /p/{text}", kind=FindingKind.UNDOCUMENTED_STATUS,
            location=f"query.{text}", expected=text, observed=text, recommendation=text, reproduction=f"curl '{text}'",
            exchanges=[Exchange(method="GET", url=f"http://x/{text}", status=500, response_body=text)]))
        known = report.add_finding(Finding(
            hop=Hop.PROXY_TO_MLFLOW, operation=f"POST /k/{number}{text}", kind=FindingKind.UNKNOWN_VALUE,
            location=text, expected="e", observed="o", recommendation="r", known=True, known_reason=text))
        report.checks.append(CheckRecord(suite=Suite.PROXY, name=f"check {text}", status=CheckStatus.FAILED,
                                         message=text, finding_ids=[index, known]))
        report.checks.append(CheckRecord(suite=Suite.FAULTS, name=text, status=CheckStatus.SKIPPED, message=text))
        report.timings[f"phase {text}"] = 1.0
    report.warnings += NASTY
    report.summarise_suites()
    return report


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_tables_keep_one_row_per_record_and_every_cell(tmp_path: Path) -> None:
    report = nasty_report()
    write_reports(report, tmp_path)
    text = (tmp_path / "contract-report.md").read_text("utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables = [t for t in tokens if t.type == "table_open"]
    assert len(tables) == 4  # failed checks, known deviations, suites, timings
    lines = text.split("\n")
    for table in tables:
        assert table.map is not None
        start, end = table.map
        header, *rows = [line for line in lines[start:end] if line.strip()]
        # Markdown parsers pad short rows and drop extra cells without a word: count in the source.
        assert [_unescaped_pipes(row) for row in rows] == [_unescaped_pipes(header)] * len(rows), header
    rows_by_header: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    header_cells: list[str] = []
    in_head = False
    for token in tokens:
        if token.type == "thead_open":
            in_head, header_cells = True, []
        elif token.type == "thead_close":
            in_head = False
            rows_by_header[header_cells[-1]] = []
        elif token.type == "tr_open" and not in_head:
            current = []
        elif token.type == "inline" and in_head:
            header_cells.append(token.content)
        elif token.type == "inline" and current is not None:
            current.append(token.content)
        elif token.type == "tr_close" and current is not None:
            rows_by_header[header_cells[-1]].append(current)
            current = None
    failed = rows_by_header["message"]
    assert len(failed) == len(NASTY)
    one_line = [re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", re.sub(r"\r\n|[\r\n]", " ", t))
                .encode("utf-8", "backslashreplace").decode() for t in NASTY]
    assert [row[2] for row in failed] == [t[:200].strip() for t in one_line]
    assert len(rows_by_header["why"]) == len(NASTY)
    assert len(rows_by_header["seconds"]) == len(NASTY)


def test_the_reproduction_fence_is_not_closed_by_what_it_holds(tmp_path: Path) -> None:
    write_reports(nasty_report(), tmp_path)
    tokens = MarkdownIt("commonmark").parse((tmp_path / "contract-report.md").read_text("utf-8"))
    shell = [t.content for t in tokens if t.type == "fence" and t.info == "sh"]
    assert any("``` fence" in block for block in shell)


def test_junit_parses_and_keeps_what_xml_can_hold(tmp_path: Path) -> None:
    write_reports(nasty_report(), tmp_path)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    failures = root.findall(".//failure")
    assert len(failures) == len(NASTY)
    texts = "\n".join((f.text or "") + f.get("message", "") for f in failures)
    assert "<tag attr='x'> & &amp; ]]> <![CDATA[ x ]]>" in texts
    assert "bell \\x07 escape \\x1b[31m nul \\x00" in texts  # shown, not dropped silently
    names = [case.get("name") for case in root.iter("testcase")]
    assert "check a | b || c" in names


ADMIN = "adm_" + "Adm1n-_" * 4 + "zzzz"
DOTENV_SECRET = "cloud-token-from-dotenv-9d2f"


def test_no_secret_of_the_run_reaches_a_report_file(tmp_path: Path) -> None:
    key = "hk_live_" + "W" * 28 + "wxyz"
    register_secrets(DOTENV_SECRET)
    report = Report(tool_version="t", mode="local")
    finding = Finding(hop=Hop.CLIENT_TO_AUTH, operation="POST /api/v1/keys", kind=FindingKind.UNDOCUMENTED_STATUS,
                      location="status", expected="201", observed="401", recommendation="r",
                      exchanges=[Exchange(method="POST", url="http://auth/api/v1/keys",
                                          request_headers={"Authorization": f"Bearer {ADMIN}"}, status=401)])
    message = f"{key} {ADMIN} {DOTENV_SECRET}"
    report.checks.append(CheckRecord(suite=Suite.PROXY, name="n", status=CheckStatus.FAILED, message=message,
                                     finding_ids=[report.add_finding(finding)]))
    report.warnings.append(f"the log said {DOTENV_SECRET}")
    # Assigned after construction: no validator saw it, only the last net before the files.
    report.findings[0].location = DOTENV_SECRET
    for path in write_reports(report, tmp_path):
        text = path.read_text("utf-8")
        for secret in (key, ADMIN, DOTENV_SECRET):
            assert secret not in text, (path.name, secret)
    assert mask(ADMIN) in (tmp_path / "contract-report.json").read_text("utf-8")
    # Masked in place: what the command prints afterwards from the same report is masked too.
    assert DOTENV_SECRET not in report.model_dump_json()
