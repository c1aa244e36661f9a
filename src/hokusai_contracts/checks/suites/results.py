"""What one suite test leaves behind: one JSON line per pytest item, read back by the runner.

The suites run in child pytest processes, so their results cross a process boundary; this model
is the only shape they cross it in (written by ``conftest``, read by ``runner``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.names import Suite

__all__ = ["Outcome", "SuiteTestResult", "append_result", "read_results"]


class Outcome(StrEnum):
    """pytest's outcome of a test item; ``error`` when it crashed or could not even load."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class SuiteTestResult(BaseModel):
    suite: Suite
    name: str
    nodeid: str
    outcome: Outcome
    seconds: float = 0.0
    message: str = Field(default="", description="pytest's report of a failure, redacted and clipped.")
    cases: int = Field(default=0, description="Schemathesis cases the test sent.")
    statuses: dict[str, list[int]] = Field(default_factory=dict, description="Statuses seen per operation.")
    contract: str | None = Field(default=None, description="Display path of the contract the test judged against.")
    findings: list[Finding] = Field(default_factory=list)
    finished_at: float | None = None


def append_result(path: Path, result: SuiteTestResult) -> None:
    with path.open("a", encoding="utf-8") as sink:
        sink.write(result.model_dump_json() + "\n")


def read_results(path: Path) -> list[SuiteTestResult]:
    if not path.exists():
        return []
    lines = path.read_text("utf-8").split("\n")
    return [SuiteTestResult.model_validate_json(line) for line in lines if line.strip()]
