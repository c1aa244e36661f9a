"""Causes: the findings of a run grouped into the defects behind them, ranked by what blocks registration.

A proxy that answers every 401 in the wrong shape makes one finding per operation: 57 findings,
one defect. Findings are one cause when they share the hop, the kind, the location, the contract
rule and the shape of what was observed:

- the *rule* is the contract pointer with its operation taken off (``/paths/~1x/get/responses/401``
  and ``/paths/~1y/post/responses/401`` are the same rule, ``responses/401``), in the same file;
  for a header, the header itself (the location), whichever answer it was on;
- the *shape* is the answer's status and the shape of its body (``json{detail}``, ``text``,
  ``empty``), or the transport error, not its exact text: ids and messages differ per operation
  while the defect does not. A finding without an exchange has its observation as shape, with
  quoted values and long numbers taken out.

Two defects on the same rule differ in status or body shape, so they stay apart. A body that breaks its
response schema is one cause whichever field or pointer each finding names (``_place``).

Ranking: unknown before known; on the registration's path (seen by the scenario, or on an
operation a registration calls: ``REGISTRATION_CALLS``) before fuzzing only; then first seen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from hokusai_contracts.domain.findings import Cause, Exchange, Finding, FindingKind
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import Report

__all__ = ["REGISTRATION_CALLS", "build_causes", "cause_key", "cause_lines", "cause_rule", "shape_of"]

#: What one registration with the MLflow client calls (shared/reference/mlflow-registration-calls.md),
#: and what the proxy asks the auth service on each (contracts/consumers/mlflow-proxy.yaml).
REGISTRATION_CALLS = frozenset({
    "GET /api/2.0/mlflow/experiments/search", "POST /api/2.0/mlflow/experiments/search",
    "GET /api/2.0/mlflow/experiments/get-by-name", "POST /api/2.0/mlflow/experiments/create",
    "GET /api/2.0/mlflow/experiments/get", "POST /api/2.0/mlflow/runs/create", "GET /api/2.0/mlflow/runs/get",
    "POST /api/2.0/mlflow/runs/log-parameter", "POST /api/2.0/mlflow/runs/log-metric",
    "POST /api/2.0/mlflow/runs/log-batch", "POST /api/2.0/mlflow/runs/set-tag", "POST /api/2.0/mlflow/runs/outputs",
    "POST /api/2.0/mlflow/runs/update", "GET /api/2.0/mlflow/metrics/get-history",
    "POST /api/2.0/mlflow/logged-models", "GET /api/2.0/mlflow/logged-models/{model_id}",
    "PATCH /api/2.0/mlflow/logged-models/{model_id}", "PATCH /api/2.0/mlflow/logged-models/{model_id}/tags",
    "POST /api/2.0/mlflow/logged-models/search",
    "PUT /api/2.0/mlflow-artifacts/artifacts/{artifact_path}", "GET /api/2.0/mlflow-artifacts/artifacts",
    "POST /api/2.0/mlflow/registered-models/create", "POST /api/2.0/mlflow/model-versions/create",
    "GET /api/2.0/mlflow/registered-models/search", "GET /api/2.0/mlflow/model-versions/get",
    "POST /api/v1/keys/validate", "POST /api/v1/usage/{key_id}",
})
_PATH_OF_OPERATION = re.compile(r"^/paths/[^/]+/(get|put|post|patch|delete|head|options|trace)(?=/|$)")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d{4,}\b|\b[0-9a-f]{8,}\b")


def _rule(finding: Finding | Cause) -> str:
    if finding.contract is None:
        return ""
    if finding.location.lower().startswith("header."):
        # A header's rule is the header's, whichever answer it was on (200, 400, one the contract
        # does not document, when the pointer falls back to the operation): the location names it.
        return finding.contract.file
    return f"{finding.contract.file}#{_PATH_OF_OPERATION.sub('', finding.contract.pointer)}"


def cause_rule(cause: Cause) -> str:
    """The contract rule a cause breaks, its operation taken off: with hop, kind and location, what makes it
    the same cause in another run (``watch`` alerts on a cause once, whatever id each run gives it)."""
    return _place(cause)[1]


def _body_shape(body: str | None) -> str:
    if not body:
        return "empty"
    try:
        value = json.loads(body)
    except ValueError:
        # A body cut at 300 characters is not JSON any more: its leading keys still tell its shape.
        keys = re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:', body) if body.lstrip().startswith("{") else []
        return f"json{{{','.join(sorted(set(keys)))}}}" if keys else "text"
    if isinstance(value, dict):
        return f"json{{{','.join(sorted(value))}}}"
    return f"json:{type(value).__name__}"


def _exchange_shape(exchange: Exchange) -> str:
    if exchange.error is not None:
        return f"error {_QUOTED.sub('…', exchange.error.split(':')[0])}"
    return f"{exchange.status} {_body_shape(exchange.response_body)}"


def shape_of(finding: Finding) -> str:
    """What the findings of one cause have in common: the answer's status and body shape.

    A header's defect is the header's, whatever the status and body: its shape is the header's value.
    """
    if finding.exchanges:
        exchange = finding.exchanges[0]
        if finding.location.lower().startswith("header.") and exchange.error is None:
            name = finding.location.split(".", 1)[1].lower()
            values = [v for k, v in exchange.response_headers.items() if k.lower() == name]
            return f"header {_NUMBER.sub('N', values[0].split(';')[0].strip()) if values else '(absent)'}"
        return _exchange_shape(exchange)
    return _NUMBER.sub("N", _QUOTED.sub("…", finding.observed))[:120]


def _place(finding: Finding | Cause) -> tuple[str, str]:
    """(location, rule) a cause is keyed by.

    An answer's body that breaks its schema is one defect however the judge words it: one schema error at
    ``body`` (a suite's, pointing at the status's response), or one finding per missing field
    (``body.error_code``, ``body.message``: a probe's, pointing at the schema referred to). The answer's
    status and body shape (the cause's shape) tell two such defects apart.
    """
    if finding.kind is FindingKind.RESPONSE_SCHEMA and finding.location.split(".", 1)[0] == "body":
        return "body", f"{finding.contract.file}#response-body" if finding.contract else ""
    if finding.kind is FindingKind.UNREACHABLE_ARTIFACT_LOCATION:
        return "body.*artifact location", ""
    return finding.location, _rule(finding)


#: Kinds about what a request carried, not what came back: the answer's shape does not tell two of their
#: defects apart (a key forwarded in the query is one leak whether MLflow then answered 401 or 500).
_REQUEST_SIDE = frozenset({FindingKind.CREDENTIAL_LEAK, FindingKind.MISSING_CREDENTIAL,
                           FindingKind.UNDECLARED_CREDENTIAL, FindingKind.ALTERED_IN_TRANSIT,
                           FindingKind.MISSING_REQUIRED_FIELD, FindingKind.UNKNOWN_OPERATION})
_SCHEME = re.compile(r"\(scheme ([^)]+)\)")


def _cause_shape(finding: Finding) -> str:
    if finding.kind in _REQUEST_SIDE:
        return "the request"
    if finding.kind is FindingKind.UNREACHABLE_ARTIFACT_LOCATION:
        # One deployment setting hands every experiment and run a location of that scheme.
        scheme = _SCHEME.search(finding.observed)
        return f"scheme {scheme.group(1) if scheme else '?'}"
    return shape_of(finding)


def cause_key(finding: Finding) -> tuple[str, str, str, str, str, bool]:
    location, rule = _place(finding)
    return (finding.hop.value, finding.kind.value, location, rule, _cause_shape(finding), finding.known)


def on_registration_path(finding: Finding) -> bool:
    operation = finding.operation.replace("/ajax-api/", "/api/", 1)
    return finding.suite is Suite.SCENARIO or operation in REGISTRATION_CALLS


def build_causes(findings: Sequence[Finding]) -> list[Cause]:
    """The causes of ``findings``, ranked; sets each finding's ``cause``."""
    groups: dict[tuple[str, str, str, str, str, bool], list[int]] = {}
    for index, finding in enumerate(findings):
        groups.setdefault(cause_key(finding), []).append(index)
    causes = []
    for key, ids in groups.items():
        first = findings[ids[0]]
        members = [findings[i] for i in ids]
        operations = list(dict.fromkeys(f.operation for f in members))
        causes.append(Cause(
            id="", rank=0, hop=first.hop, kind=first.kind, location=key[2], contract=first.contract,
            shape=key[4], operations=operations, count=sum(f.count for f in members), finding_ids=ids,
            known=first.known, on_registration_path=any(on_registration_path(f) for f in members),
            expected=first.expected, observed=first.observed, recommendation=first.recommendation,
            example=first.exchanges[0] if first.exchanges else None, reproduction=first.reproduction,
        ))
    causes.sort(key=lambda c: (c.known, not c.on_registration_path, c.finding_ids[0]))
    for rank, cause in enumerate(causes, 1):
        cause.rank, cause.id = rank, f"C{rank}"
        for index in cause.finding_ids:
            findings[index].cause = cause.id
    return causes


def cause_lines(report: Report, top: int = 5) -> list[str]:
    """The terminal summary's top causes, one line each (the unknown ones: the known do not fail)."""
    causes = [c for c in report.causes if not c.known]
    if not causes:
        return []
    lines = [f"\nTop causes ({len(causes)} from {sum(not f.known for f in report.findings)} unknown findings):"]
    for cause in causes[:top]:
        where = "registration path" if cause.on_registration_path else "fuzzing only"
        first = cause.operations[0] if cause.operations else "?"
        more = f" +{len(cause.operations) - 1} more" if len(cause.operations) > 1 else ""
        lines.append(f"  {cause.id} {cause.kind.value} at {cause.location} on {cause.hop} ({where}): "
                     f"{cause.shape}, {cause.count}x on {first}{more}. {cause.recommendation}"[:240])
    if len(causes) > top:
        lines.append(f"  ... {len(causes) - top} more in the report")
    return lines
