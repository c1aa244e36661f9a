"""The vocabulary of a spec change: its kind, its severity for a consumer, and the record of it.

``breaking`` means a consumer that follows the current contract stops working against the
candidate; ``compatible`` means it keeps working. Each kind of breaking change comes with the
advice that keeps consumers working through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hokusai_contracts.domain.findings import ContractRef

__all__ = ["ChangeKind", "Severity", "Side", "SpecChange", "advice", "exit_code", "verdict"]

Side = Literal["request", "response"]


class Severity(StrEnum):
    BREAKING = "breaking"
    COMPATIBLE = "compatible"


class ChangeKind(StrEnum):
    # Operations and statuses
    OPERATION_REMOVED = "operation_removed"
    OPERATION_ADDED = "operation_added"
    STATUS_REMOVED = "status_removed"
    STATUS_ADDED = "status_added"
    # Security and media types
    SECURITY_CHANGED = "security_changed"
    SECURITY_RELAXED = "security_relaxed"
    MEDIA_TYPE_CHANGED = "media_type_changed"
    MEDIA_TYPE_ADDED = "media_type_added"
    # What the consumer sends
    REQUIRED_FIELD_ADDED = "required_field_added"
    OPTIONAL_FIELD_ADDED = "optional_field_added"
    REQUEST_FIELD_REMOVED = "request_field_removed"
    PARAMETER_ADDED_REQUIRED = "parameter_added_required"
    PARAMETER_ADDED_OPTIONAL = "parameter_added_optional"
    PARAMETER_REMOVED = "parameter_removed"
    REQUIREMENT_RELAXED = "requirement_relaxed"
    FIELD_MOVED = "field_moved"
    # Value rules (request: narrowing breaks; response: see the module docstring)
    TYPE_NARROWED = "type_narrowed"
    TYPE_WIDENED = "type_widened"
    ENUM_NARROWED = "enum_narrowed"
    ENUM_WIDENED = "enum_widened"
    PATTERN_CHANGED = "pattern_changed"
    PATTERN_WIDENED = "pattern_widened"
    BOUND_NARROWED = "bound_narrowed"
    BOUND_WIDENED = "bound_widened"
    FORMAT_CHANGED = "format_changed"
    FORMAT_RELAXED = "format_relaxed"
    # What the consumer reads
    RESPONSE_FIELD_REMOVED = "response_field_removed"
    RESPONSE_FIELD_OPTIONAL = "response_field_optional"
    RESPONSE_FIELD_RETYPED = "response_field_retyped"
    RESPONSE_ENUM_WIDENED = "response_enum_widened"
    RESPONSE_FIELD_ADDED = "response_field_added"
    RESPONSE_FIELD_REQUIRED = "response_field_required"
    RESPONSE_HEADER_REMOVED = "response_header_removed"
    RESPONSE_HEADER_ADDED = "response_header_added"


class SpecChange(BaseModel):
    """One difference between the current and the candidate contract, and what it means for consumers."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    severity: Severity
    operation: str = Field(description="`METHOD /path` as the current contract writes it (the candidate's if new).")
    location: str = Field(description="Where in the message: operation, security, body.api_key, query.service_id, "
                                      "response.200, response.200.body.key_id, response.429.header.Retry-After.")
    current: ContractRef | None = Field(description="The thing in the current contract, or its nearest parent.")
    candidate: ContractRef | None = Field(description="The thing in the candidate, or its nearest parent.")
    summary: str
    recommendation: str


_ADVICE = {
    ChangeKind.OPERATION_REMOVED: "Keep the operation (deprecated) until no consumer calls it, or publish a new "
                                  "major version.",
    ChangeKind.STATUS_REMOVED: "Keep documenting the status while the service may still answer it: consumers "
                               "branch on it.",
    ChangeKind.SECURITY_CHANGED: "Keep the current security requirement as an alternative until every consumer "
                                 "sends the new credential.",
    ChangeKind.MEDIA_TYPE_CHANGED: "Keep the current media type and add the new one alongside it.",
    ChangeKind.REQUIRED_FIELD_ADDED: "Make it optional with a default until every consumer sends it.",
    ChangeKind.PARAMETER_ADDED_REQUIRED: "Make it optional with a default until every consumer sends it.",
    ChangeKind.REQUEST_FIELD_REMOVED: "Keep accepting and honouring it, deprecated, until consumers stop sending it.",
    ChangeKind.PARAMETER_REMOVED: "Keep accepting and honouring it, deprecated, until consumers stop sending it.",
    ChangeKind.FIELD_MOVED: "Accept it in both places during a migration window; consumers send it where the "
                            "current contract says.",
    ChangeKind.TYPE_NARROWED: "Keep accepting every value the current contract accepts; narrow only after "
                              "consumers have moved.",
    ChangeKind.ENUM_NARROWED: "Keep accepting every value the current contract accepts; narrow only after "
                              "consumers have moved.",
    ChangeKind.PATTERN_CHANGED: "Keep accepting every value the current pattern accepts.",
    ChangeKind.BOUND_NARROWED: "Keep the current bound until consumers stay within the new one.",
    ChangeKind.FORMAT_CHANGED: "Keep accepting values of the current format.",
    ChangeKind.RESPONSE_FIELD_REMOVED: "Keep answering the field; add a new field instead of removing this one.",
    ChangeKind.RESPONSE_FIELD_OPTIONAL: "Keep the field required: consumers read it without checking.",
    ChangeKind.RESPONSE_FIELD_RETYPED: "Keep the field's type; add a new field with the new type instead.",
    ChangeKind.RESPONSE_ENUM_WIDENED: "Tell consumers first: code that switches on the value meets a case it "
                                      "does not know.",
    ChangeKind.RESPONSE_HEADER_REMOVED: "Keep sending the header: consumers read it.",
}
_COMPATIBLE_ADVICE = "Nothing to do: consumers that follow the current contract keep working."


def advice(kind: ChangeKind, severity: Severity) -> str:
    """What to do about a change of ``kind``: nothing when it is compatible."""
    if severity is Severity.COMPATIBLE:
        return _COMPATIBLE_ADVICE
    return _ADVICE.get(kind, "Keep the current behaviour as an alternative until consumers have moved.")


def verdict(changes: Iterable[SpecChange]) -> Severity:
    """``breaking`` if any change breaks a consumer of the current contract, else ``compatible``."""
    return Severity.BREAKING if any(c.severity is Severity.BREAKING for c in changes) else Severity.COMPATIBLE


def exit_code(changes: Iterable[SpecChange]) -> int:
    """0 compatible, 1 breaking (2, unusable input, is a ``ContractError`` raised while loading)."""
    return 1 if verdict(changes) is Severity.BREAKING else 0
