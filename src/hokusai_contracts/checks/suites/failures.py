"""Schemathesis failures as ``Finding`` records.

Schemathesis says *what* failed for *which case*; a finding adds where the
rule is written (file, JSON pointer, line), which hop it happened on, and
what to do. The mapping from failure class to finding kind is data, here.
"""

from __future__ import annotations

from typing import Any

from schemathesis import Case, Response
from schemathesis.core.failures import AcceptedNegativeData, Failure, ServerError
from schemathesis.openapi.checks import (
    AuthScenario,
    IgnoredAuth,
    JsonSchemaError,
    MalformedMediaType,
    MissingContentType,
    MissingHeaders,
    RejectedPositiveData,
    UndefinedContentType,
    UndefinedStatusCode,
)

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Exchange, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import redact

__all__ = ["exchange_of", "finding_from_failure", "operation_pointer"]

CLIP = 300

_KINDS: list[tuple[type[Failure], FindingKind]] = [
    (UndefinedStatusCode, FindingKind.UNDOCUMENTED_STATUS),
    (JsonSchemaError, FindingKind.RESPONSE_SCHEMA),
    (MissingHeaders, FindingKind.MISSING_HEADER),
    (MissingContentType, FindingKind.CONTENT_TYPE),
    (UndefinedContentType, FindingKind.CONTENT_TYPE),
    (MalformedMediaType, FindingKind.CONTENT_TYPE),
    (ServerError, FindingKind.SERVER_ERROR),
    (AcceptedNegativeData, FindingKind.NEGATIVE_DATA_ACCEPTED),
    (RejectedPositiveData, FindingKind.REJECTED_VALID_REQUEST),
    (IgnoredAuth, FindingKind.IGNORED_AUTH),
]

_ADVICE: dict[FindingKind, str] = {
    FindingKind.UNDOCUMENTED_STATUS: "Document this status in the contract, or stop answering it.",
    FindingKind.RESPONSE_SCHEMA: "Make the response match the declared schema, or correct the schema.",
    FindingKind.MISSING_HEADER: "Send the declared response header.",
    FindingKind.CONTENT_TYPE: "Answer with the media type the contract declares for this status.",
    FindingKind.SERVER_ERROR: "A 5xx for a client's input is a bug: validate the input and answer 4xx.",
    FindingKind.NEGATIVE_DATA_ACCEPTED: "Reject requests that violate the contract with a 4xx.",
    FindingKind.REJECTED_VALID_REQUEST: "Accept every request the contract allows, or narrow the contract.",
    FindingKind.IGNORED_AUTH: "Enforce the declared security: refuse requests without valid credentials.",
    FindingKind.CHECK_FAILED: "See the message; the check's name says which rule broke.",
}


def operation_pointer(case: Case[Any]) -> str:
    path = case.operation.path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{path}/{case.operation.method.lower()}"


def _kind(failure: Failure) -> FindingKind:
    return next((kind for cls, kind in _KINDS if isinstance(failure, cls)), FindingKind.CHECK_FAILED)


def _location_and_pointer(failure: Failure, kind: FindingKind, base: str, status: int) -> tuple[str, str]:
    if isinstance(failure, JsonSchemaError):
        where = ".".join(str(p) for p in failure.instance_path)
        return (f"body.{where}" if where else "body"), f"{base}/responses/{status}"
    if isinstance(failure, MissingHeaders):
        return f"header.{','.join(failure.missing_headers)}", f"{base}/responses/{status}/headers"
    if kind is FindingKind.CONTENT_TYPE:
        return "header.Content-Type", f"{base}/responses/{status}/content"
    if kind in (FindingKind.NEGATIVE_DATA_ACCEPTED, FindingKind.REJECTED_VALID_REQUEST):
        return "request", base
    return "status", f"{base}/responses"


def _expected(failure: Failure, kind: FindingKind) -> str:
    if isinstance(failure, UndefinedStatusCode):
        return "one of the documented statuses: " + ", ".join(failure.defined_status_codes)
    if isinstance(failure, MissingHeaders):
        return "headers " + ", ".join(failure.missing_headers)
    if kind is FindingKind.SERVER_ERROR:
        return "no 5xx: a documented 4xx for input the server cannot handle"
    if kind is FindingKind.NEGATIVE_DATA_ACCEPTED:
        return "a 4xx for a request that violates the contract"
    if kind is FindingKind.REJECTED_VALID_REQUEST:
        return "a 2xx for a request the contract allows"
    if isinstance(failure, IgnoredAuth):
        return f"401 or 403 for a request {_AUTH_SCENARIOS.get(failure.scenario, 'without valid credentials')}"
    return failure.title


_AUTH_SCENARIOS = {
    AuthScenario.NO_AUTH: "without authentication",
    AuthScenario.INVALID_AUTH: "with invalid credentials",
    AuthScenario.GENERATED_AUTH: "with generated (invalid) credentials",
}


def _exists(contract: Contract, pointer: str) -> bool:
    try:
        contract.node(pointer)
    except (KeyError, IndexError, ValueError):
        return False
    return True


def exchange_of(case: Case[Any], response: Response | None, error: str | None = None) -> Exchange:
    request = response.request if response is not None else None
    body = request.body if request is not None else None
    if isinstance(body, bytes):
        body = body[:CLIP].decode("utf-8", "replace")
    return Exchange(
        method=case.method.upper(),
        url=redact(str(request.url) if request is not None else case.formatted_path),
        request_headers={k: redact(str(v)) for k, v in (request.headers.items() if request is not None else [])},
        request_body=redact(body) if isinstance(body, str) else None,
        status=response.status_code if response is not None else None,
        response_headers={k: redact(", ".join(v)) for k, v in response.headers.items()} if response else {},
        response_body=redact(response.content[:CLIP].decode("utf-8", "replace")) if response is not None else None,
        elapsed_ms=round(response.elapsed * 1000, 1) if response is not None else None,
        error=error,
    )


def finding_from_failure(failure: Failure, case: Case[Any], response: Response, contract: Contract, hop: Hop,
                         suite: Suite, secrets: tuple[str, ...] = (), curl_headers: dict[str, Any] | None = None
                         ) -> Finding:
    kind = _kind(failure)
    base = operation_pointer(case)
    location, pointer = _location_and_pointer(failure, kind, base, response.status_code)
    body = response.content[:CLIP].decode("utf-8", "replace").replace("\n", " ")
    observed = f"{response.status_code} {body}".strip() if location == "status" else (
        f"{failure.title}: {failure.message}".replace("\n", " ")[:CLIP])
    if kind is FindingKind.CHECK_FAILED:
        observed = f"{type(failure).__name__}: {observed}"
    try:
        curl = case.as_curl_command(headers=curl_headers)
    except Exception:  # a reproduction is a courtesy; never lose the finding over it
        curl = None
    return Finding(
        hop=hop,
        operation=f"{case.method.upper()} {case.operation.path}",
        kind=kind,
        location=location,
        contract=contract.ref(pointer if _exists(contract, pointer) else base),
        expected=_expected(failure, kind),
        observed=redact(observed, secrets),
        recommendation=_ADVICE[kind],
        suite=suite,
        exchanges=[exchange_of(case, response)],
        reproduction=redact(curl, secrets) if curl else None,
    )
