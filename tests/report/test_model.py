"""The report: one record per check and per finding, derived verdict, three renderings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hokusai_contracts import ContractRef, Exchange, Finding, FindingKind, Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report, report_json_schema
from hokusai_contracts.report.writers import write_reports

KEY = "hk_live_" + "r" * 28 + "ABCD"


def finding(known: bool = False, **changes: object) -> Finding:
    values: dict[str, object] = dict(
        hop=Hop.PROXY_TO_AUTH, operation="POST /api/v1/keys/validate", kind=FindingKind.MISSING_REQUIRED_FIELD,
        location="body.api_key", contract=ContractRef(file="contracts/auth-service.yaml",
                                                      pointer="/components/schemas/APIKeyValidation/required", line=7),
        expected="api_key in the JSON body", observed="absent", recommendation="Send api_key in the body.",
        known=known, exchanges=[Exchange(method="POST", url="/api/v1/keys/validate", status=401)],
        reproduction="curl -X POST http://auth/api/v1/keys/validate",
    )
    values.update(changes)
    return Finding.model_validate(values)


@pytest.mark.parametrize(
    ("statuses", "findings", "verdict"),
    [
        ([CheckStatus.PASSED], [], "pass"),
        ([CheckStatus.PASSED], [finding(known=True)], "pass"),
        ([CheckStatus.PASSED], [finding()], "fail"),
        ([CheckStatus.FAILED], [], "fail"),
        ([CheckStatus.ERROR], [], "fail"),
        ([CheckStatus.SKIPPED], [], "pass"),
    ],
)
def test_verdict_is_derived(statuses: list[CheckStatus], findings: list[Finding], verdict: str) -> None:
    report = Report(tool_version="t", mode="local",
                    checks=[CheckRecord(suite=Suite.SCENARIO, name=str(i), status=s) for i, s in enumerate(statuses)],
                    findings=findings)
    assert report.verdict == verdict
    assert json.loads(report.model_dump_json())["verdict"] == verdict


def test_equal_findings_merge_and_count() -> None:
    report = Report(tool_version="t", mode="local")
    assert report.add_finding(finding()) == report.add_finding(finding()) == 0
    assert report.add_finding(finding(location="header.Authorization")) == 1
    assert report.findings[0].count == 2


def test_json_schema_documents_the_report_fields() -> None:
    schema = json.loads(report_json_schema())
    assert {"verdict", "mode", "targets", "timings", "suites", "checks", "findings", "diagnosis",
            "coverage"} <= set(schema["properties"])
    assert {"hop", "operation", "kind", "location", "contract", "expected", "observed", "recommendation",
            "known"} <= set(schema["$defs"]["Finding"]["properties"])


def test_all_three_renderings_are_written(tmp_path: Path) -> None:
    report = Report(tool_version="t", mode="local",
                    checks=[CheckRecord(suite="hop-journal", name="proxy->auth", status=CheckStatus.FAILED,
                                        finding_ids=[0])])
    report.add_finding(finding(observed=f"Authorization: Bearer {KEY}".replace(KEY, "hk_live_rr...ABCD")))
    report.add_finding(finding(known=True, location="status", kind=FindingKind.UNDOCUMENTED_STATUS,
                               known_reason="documented gap"))
    report.summarise_suites()
    paths = write_reports(report, tmp_path)
    assert [p.name for p in paths] == ["contract-report.json", "junit.xml", "contract-report.md"]
    data = json.loads(paths[0].read_text())
    assert data["verdict"] == "fail" and len(data["findings"]) == 2
    suite = ET.parse(paths[1]).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "body.api_key" in (failure.text or "")
    markdown = paths[2].read_text()
    assert markdown.startswith("# Contract report (local): ❌ FAIL")
    assert "```mermaid" in markdown and "sequenceDiagram" in markdown
    assert "contracts/auth-service.yaml:7#/components/schemas/APIKeyValidation/required" in markdown
    assert "## Known deviations seen (1)" in markdown
    assert KEY not in markdown
