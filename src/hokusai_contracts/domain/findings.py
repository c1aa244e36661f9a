"""Findings and diagnoses: the records a run produces.

A ``Finding`` is one disagreement between what crossed a hop and the
receiving side's contract. A ``Diagnosis`` is a root cause inferred over all
findings and probes of a run. Both are pydantic models because their JSON
Schema *is* the documented report format.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import redact, redact_headers

__all__ = [
    "Cause",
    "ContractRef",
    "Diagnosis",
    "DiagnosisCategory",
    "Evidence",
    "Exchange",
    "Finding",
    "FindingKind",
]


class FindingKind(StrEnum):
    MISSING_REQUIRED_FIELD = "missing_required_field"
    REQUEST_SCHEMA = "request_schema"
    UNDOCUMENTED_STATUS = "undocumented_status"
    RESPONSE_SCHEMA = "response_schema"
    MISSING_HEADER = "missing_header"
    CONTENT_TYPE = "content_type"
    SERVER_ERROR = "server_error"
    PATH_NOT_FOUND = "path_not_found"
    UNKNOWN_OPERATION = "unknown_operation"
    UNDECLARED_CREDENTIAL = "undeclared_credential"
    CREDENTIAL_LEAK = "credential_leak"
    DIFFERS_FROM_UPSTREAM = "differs_from_upstream"
    UNKNOWN_VALUE = "unknown_value"
    SCENARIO_STEP = "scenario_step"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    ARTIFACT_MISMATCH = "artifact_mismatch"
    AUTH_REJECTED = "auth_rejected"
    NEGATIVE_DATA_ACCEPTED = "negative_data_accepted"
    REJECTED_VALID_REQUEST = "rejected_valid_request"
    IGNORED_AUTH = "ignored_auth"
    CHECK_FAILED = "check_failed"
    #: A candidate auth-service spec breaks a consumer of the current one (``spec-check``).
    BREAKING_CHANGE = "breaking_change"
    ALTERED_IN_TRANSIT = "altered_in_transit"
    #: MLflow, through the proxy, gave a client an artifact location it cannot write through the proxy
    #: (``s3://``, ``gs://``, ``file://``, another host): ``checks.artifact_locations``.
    UNREACHABLE_ARTIFACT_LOCATION = "unreachable_artifact_location"


class Evidence(StrEnum):
    """What a check or finding says about the root cause, set where it is known (by the check).

    The diagnosis reads these, never message text: a message is for people and may change.
    """

    #: A part did not answer, timed out, or a proxy/load balancer answered 502/503/504.
    INFRASTRUCTURE_DOWN = "infrastructure_down"
    #: The auth service itself, asked directly, refuses the key for the proxy's service.
    KEY_REFUSED_BY_AUTH = "key_refused_by_auth"
    #: The auth service accepts the key when asked directly, yet the proxy refuses it.
    PROXY_REFUSES_VALID_KEY = "proxy_refuses_valid_key"
    #: A client (the registration scenario) was refused authentication by the proxy.
    KEY_REFUSED_BY_PROXY = "key_refused_by_proxy"


class ContractRef(BaseModel):
    """Where in which contract the violated rule is written."""

    model_config = ConfigDict(frozen=True)

    file: str = Field(description="Contract file, relative to the project root.")
    pointer: str = Field(description="JSON pointer into that file, e.g. /paths/~1api~1v1~1keys~1validate/post.")
    line: int | None = Field(default=None, description="1-based line of the pointer in the file, if known.")

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}#{self.pointer}"


class Exchange(BaseModel):
    """One request and its answer, redacted, enough to reproduce the finding."""

    method: str
    url: str
    request_headers: dict[str, str] = Field(default_factory=dict)
    request_body: str | None = None
    request_body_size: int | None = Field(default=None, description="A request body too large to keep: its bytes.")
    request_body_sha256: str | None = Field(default=None, description="A request body too large to keep: its SHA-256.")
    status: int | None = None
    response_headers: dict[str, str] = Field(default_factory=dict)
    response_body: str | None = None
    elapsed_ms: float | None = None
    error: str | None = Field(default=None, description="Transport error instead of a response.")

    # Redacted here, whoever builds the exchange: a builder that forgets the run's secrets (or an
    # admin token in an Authorization header) must not be able to put them in a report.
    @field_validator("url", "request_body", "response_body", "error")
    @classmethod
    def _redacted(cls, value: str | None) -> str | None:
        return redact(value) if value is not None else None

    @field_validator("request_headers", "response_headers")
    @classmethod
    def _redacted_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return redact_headers(value)


class Finding(BaseModel):
    """One contract disagreement on one hop."""

    hop: Hop
    operation: str = Field(description="`METHOD /path` as written in the contract, or the raw request line.")
    kind: FindingKind
    location: str = Field(description="Where in the message: body.api_key, status, header.Retry-After, query.key ...")
    contract: ContractRef | None = None
    expected: str
    observed: str = Field(description="Redacted: no credential appears whole.")
    recommendation: str
    known: bool = Field(default=False, description="Matches an entry of contracts/known-deviations.yaml.")
    known_reason: str | None = None
    suite: Suite | None = Field(default=None, description="The suite or check that produced it.")
    evidence: Evidence | None = Field(default=None, description="What it says about the root cause, if anything.")
    exchanges: list[Exchange] = Field(default_factory=list, description="The failing exchange(s), redacted.")
    reproduction: str | None = Field(default=None, description="A curl command with credentials redacted.")
    count: int = Field(default=1, description="How many times the same finding was seen.")
    cause: str | None = Field(default=None, description="Id of the entry of the report's `causes` it belongs to.")

    @field_validator("expected", "observed", "recommendation", "known_reason", "reproduction")
    @classmethod
    def _redacted(cls, value: str | None) -> str | None:
        return redact(value) if value is not None else None

    def identity(self) -> tuple[str, str, str, str]:
        """Findings with the same identity are the same disagreement seen again."""
        return (self.hop.value, self.operation, self.kind.value, self.location)


class DiagnosisCategory(StrEnum):
    API_KEY = "api_key"
    SERVICE_CONFIG = "service_config"
    CONTRACT_MISMATCH = "contract_mismatch"
    INFRASTRUCTURE = "infrastructure"
    CODE_BUG = "code_bug"


class Diagnosis(BaseModel):
    """A root cause over all findings and probes of a run."""

    category: DiagnosisCategory
    confidence: float = Field(ge=0.0, le=1.0)
    summary: str
    evidence: list[str] = Field(default_factory=list)
    recommendation: str


class Cause(BaseModel):
    """Findings that are one defect seen on several operations: same hop, kind, location, rule and shape.

    Built by the run's fold (``report.causes``); ranked by what blocks a registration first.
    """

    id: str = Field(description="`C1`, `C2`...: what `Finding.cause` names.")
    rank: int = Field(description="1 first: on the registration's path before fuzzing only, unknown before known.")
    hop: Hop
    kind: FindingKind
    location: str
    contract: ContractRef | None = None
    shape: str = Field(description="What the answers had in common, e.g. `401 json{detail}`.")
    operations: list[str] = Field(description="Every operation it was seen on, in the order first seen.")
    count: int = Field(description="How many times it was seen, over all its findings.")
    finding_ids: list[int] = Field(description="Indexes into the report's `findings`.")
    known: bool = Field(description="Every finding of it matches a known deviation.")
    on_registration_path: bool = Field(description="Seen by the scenario, or on an operation a registration calls.")
    expected: str
    observed: str = Field(description="The first finding's observation, redacted.")
    recommendation: str
    example: Exchange | None = Field(default=None, description="The first finding's first exchange.")
    reproduction: str | None = Field(default=None, description="The first finding's curl.")
