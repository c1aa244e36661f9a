"""The report of a run: one pydantic model, whose JSON Schema is the documented format.

Each check is one ``CheckRecord`` and each finding one ``Finding``; the
verdict is derived, never stored by hand: a run fails when a check failed or
a finding is not known.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from hokusai_contracts.domain.findings import Cause, Diagnosis, Evidence, Finding
from hokusai_contracts.domain.names import Suite

__all__ = [
    "CheckRecord",
    "CheckStatus",
    "OperationCoverage",
    "ReplayedExchange",
    "Report",
    "SuiteSummary",
    "Targets",
    "report_json_schema",
]

REPORT_SCHEMA_VERSION = "1"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class CheckRecord(BaseModel):
    """One check: a scenario step, a Schemathesis operation test, a probe."""

    suite: Suite
    name: str
    status: CheckStatus
    operation: str | None = None
    seconds: float = 0.0
    message: str = ""
    cases: int = Field(default=0, description="Generated test cases, for Schemathesis checks.")
    finding_ids: list[int] = Field(default_factory=list, description="Indexes into `findings`.")
    evidence: Evidence | None = Field(default=None, description="What it says about the root cause, if anything.")


class SuiteSummary(BaseModel):
    name: Suite
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    cases: int = 0


class OperationCoverage(BaseModel):
    contract: str
    operation: str
    exercised: bool
    statuses: list[int] = Field(default_factory=list)


class ReplayedExchange(BaseModel):
    """One recorded client->proxy exchange sent again to the local stack (``contract-local REPLAY=``)."""

    index: int = Field(description="Its place in the recording (1-based).")
    method: str
    path: str = Field(description="Path as replayed (redacted); the query is left out.")
    recorded_status: int | None = Field(description="What the recording says came back (None: no answer).")
    replayed_status: int | None = Field(description="What the local stack answered (None: no answer).")
    recorded_shape: str = Field(description="The recorded answer's body shape: json{keys}, json[], text, empty, "
                                "or unknown (not recorded).")
    replayed_shape: str
    reproduced: bool = Field(description="Same status, and the same shape where both are known.")
    note: str = ""


class Targets(BaseModel):
    proxy_url: str | None = None
    auth_url: str | None = None
    mlflow_url: str | None = None
    proxy: str = Field(default="reference", description="`reference`, or the PROXY_CMD that was run.")
    mlflow_version: str | None = Field(default=None, description="The MLflow server's version (MLFLOW_VERSION; "
                                       "a live run: what the server's GET /version answered).")
    client_versions: list[str] = Field(default_factory=list, description="The MLflow client versions the "
                                       "registration scenario ran with (MLFLOW_CLIENTS).")
    backend_store: str | None = Field(default=None, description="MLflow's backend store (BACKEND_STORE): `sqlite`, "
                                      "or `postgresql <version> (<locale>)`.")
    artifact_store: str | None = Field(default=None, description="MLflow's artifact store (ARTIFACT_STORE) and how "
                                       "it serves artifacts (MLFLOW_ARTIFACTS): `local, proxied`, `s3 (s3://...), "
                                       "root`...")
    artifact_location_scheme: str | None = Field(
        default=None, description="A live run: the scheme of the artifact location MLflow gave the run's own probe "
        "experiment through the proxy (`mlflow-artifacts`, `s3`...): which local ARTIFACT_STORE and "
        "MLFLOW_ARTIFACTS mirror production.")


class Report(BaseModel):
    schema_version: str = REPORT_SCHEMA_VERSION
    tool_version: str
    mode: Literal["local", "live", "spec", "judge"]
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    targets: Targets = Field(default_factory=Targets)
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Measurements: artifact size and time, "
                                      "proxy peak RSS growth, validate calls that reached the auth service...")
    suites: list[SuiteSummary] = Field(default_factory=list)
    checks: list[CheckRecord] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    diagnosis: list[Diagnosis] = Field(default_factory=list)
    causes: list[Cause] = Field(default_factory=list, description="The findings grouped into the defects behind "
                                "them, ranked: what blocks a registration first (every finding names its `cause`).")
    coverage: list[OperationCoverage] = Field(default_factory=list)
    replay: list[ReplayedExchange] = Field(default_factory=list, description="REPLAY=: whether the local stack "
                                           "reproduced each recorded exchange's status and shape.")
    warnings: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["pass", "fail"]:
        failed = any(c.status in (CheckStatus.FAILED, CheckStatus.ERROR) for c in self.checks)
        unknown = any(not f.known for f in self.findings)
        return "fail" if failed or unknown else "pass"

    def add_finding(self, finding: Finding) -> int:
        """Add a finding, merging it into an equal one (same hop, operation, kind, location).

        Only the run's fold (``run.fold``) adds findings, after known deviations were applied.
        """
        for index, existing in enumerate(self.findings):
            if existing.identity() == finding.identity():
                existing.count += finding.count
                return index
        self.findings.append(finding)
        return len(self.findings) - 1

    def summarise_suites(self) -> None:
        summaries: dict[str, SuiteSummary] = {}
        for check in self.checks:
            summary = summaries.setdefault(check.suite, SuiteSummary(name=check.suite))
            setattr(summary, _COUNTER[check.status], getattr(summary, _COUNTER[check.status]) + 1)
            summary.seconds += check.seconds
            summary.cases += check.cases
        self.suites = list(summaries.values())


_COUNTER = {CheckStatus.PASSED: "passed", CheckStatus.FAILED: "failed", CheckStatus.SKIPPED: "skipped",
            CheckStatus.ERROR: "errors"}


def report_json_schema() -> str:
    return json.dumps(Report.model_json_schema(mode="serialization"), indent=2)


def write_json(report: Report, path: Path) -> None:
    path.write_text(report.model_dump_json(indent=2) + "\n", "utf-8")
