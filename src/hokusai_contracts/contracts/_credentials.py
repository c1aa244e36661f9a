"""Credentials on the wire: where a contract lets them travel, and where they must never be.

Incident 1 moved the key from ``body.api_key`` into ``Authorization: Bearer``
on an operation that declares no security: an *undeclared credential*. On the
proxy->mlflow hop the caller's key must not appear at all: a *credential leak*.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hokusai_contracts.contracts._source import join_pointer
from hokusai_contracts.contracts._verdicts import Verdicts, header_name
from hokusai_contracts.contracts.known_values import property_rules
from hokusai_contracts.contracts.loading import Contract, Operation
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.redact import KEY_PATTERN, MASKED_KEY_PATTERN

__all__ = ["leaks", "missing_credentials", "undeclared_credentials"]

# Headers that carry a credential whatever their value (an opaque token is still a secret).
_CREDENTIAL_HEADERS = {"authorization", "x-api-key", "proxy-authorization"}
_CREDENTIAL_QUERY = {"api_key", "apikey", "access_token", "token"}
# A Bearer token in the Hokusai key shape, even malformed (truncated, wrong length).
_BEARER_KEY = re.compile(r"bearer\s+hk_[A-Za-z]+_\S*", re.IGNORECASE)
_CREDENTIAL_FIELD = re.compile(r"api_?key|token|secret", re.IGNORECASE)


def carries_key(text: str) -> bool:
    return bool(KEY_PATTERN.search(text) or _BEARER_KEY.search(text) or MASKED_KEY_PATTERN.search(text))


def _security_carriers(contract: Contract, operation: Operation) -> set[tuple[str, str]]:
    """Where the operation's security lets a credential travel: (``header``/``query``, name)."""
    carriers: set[tuple[str, str]] = set()
    schemes = (contract.document.get("components") or {}).get("securitySchemes") or {}
    for requirement in operation.security:
        for name in requirement:
            if name not in schemes:
                continue
            scheme, _ = contract.deref(join_pointer("/components/securitySchemes", name))
            if scheme.get("type") == "apiKey":
                carriers.add((str(scheme.get("in")), str(scheme.get("name", "")).lower()))
            else:  # http (basic, bearer), oauth2, openIdConnect all travel in Authorization
                carriers.add(("header", "authorization"))
    return carriers


def undeclared_credentials(verdicts: Verdicts, operation: Operation,
                            query: Sequence[tuple[str, str]], headers: Mapping[str, str],
                            leaked: set[str]) -> None:
    secured = _security_carriers(verdicts.contract, operation)
    # A declared parameter is the contract's business even if its name says "token".
    carriers = secured | {(p.location, p.name.lower()) for p in operation.parameters}
    expected = ("no credential here: the operation declares no security and no such parameter"
                if not secured else "credentials only where the operation's security puts them"
                f" ({', '.join(f'{i} {n}' for i, n in sorted(secured))})")
    body_field = _credential_field(verdicts.contract, operation)
    instead = f"send it as body.{body_field}, as the contract requires" if body_field else \
        "send it where the contract declares, or declare a security scheme"
    suspects = [("header", header_name(k), f"{header_name(k)}: {v}") for k, v in headers.items()
                if (k.lower() in _CREDENTIAL_HEADERS and v.strip()) or carries_key(v)]
    suspects += [("query", k, f"{k}={v}") for k, v in query
                 if k.lower() in _CREDENTIAL_QUERY or carries_key(v)]
    for kind, name, observed in suspects:
        where = f"{kind}.{name}"
        if (kind, name.lower()) in carriers or where in leaked:
            continue  # a leak at the same place is the stronger finding; report it alone
        pointer = join_pointer(operation.pointer, "security") if "security" in operation.spec \
            else operation.pointer
        verdicts.add(FindingKind.UNDECLARED_CREDENTIAL, where, pointer, expected, observed,
                     f"The {verdicts.sender} must not send a credential in {kind} {name} of "
                     f"{operation.label}, which the contract does not declare; {instead}.")


def missing_credentials(verdicts: Verdicts, operation: Operation, query: Sequence[tuple[str, str]],
                        headers: Mapping[str, str]) -> None:
    """The operation declares security and the request carries none of what it asks for.

    Incident 1 seen from a candidate spec: if the auth service started to require the key in
    ``Authorization``, a proxy still sending it in the body would be told so here.
    """
    if not operation.security or any(not requirement for requirement in operation.security):
        return  # no security, or an empty requirement ({}) that makes it optional
    sent = {("header", k.lower()) for k, v in headers.items() if v.strip()} | {("query", k.lower()) for k, _ in query}
    schemes = (verdicts.contract.document.get("components") or {}).get("securitySchemes") or {}
    wanted: list[tuple[str, str]] = []
    for requirement in operation.security:
        carriers = set()
        for name in requirement:
            if name in schemes:
                scheme, _ = verdicts.contract.deref(join_pointer("/components/securitySchemes", name))
                carriers.add((str(scheme.get("in")), str(scheme.get("name", "")).lower())
                             if scheme.get("type") == "apiKey" else ("header", "authorization"))
        if carriers and carriers <= sent:
            return
        wanted += sorted(carriers)
    if not wanted:
        return
    where, name = wanted[0]
    location = f"{where}.{header_name(name) if where == 'header' else name}"
    pointer = join_pointer(operation.pointer, "security") if "security" in operation.spec else "/security"
    verdicts.add(FindingKind.MISSING_REQUIRED_FIELD, location, pointer,
                 f"a credential in {where} {name}, as the operation's security requires", "absent",
                 f"The {verdicts.sender} must send its credential in {where} {name} of {operation.label}.")


def _credential_field(contract: Contract, operation: Operation) -> str | None:
    """The request body property meant to carry a credential (``api_key``), if any."""
    if "requestBody" not in operation.spec:
        return None
    spec, pointer = contract.deref(join_pointer(operation.pointer, "requestBody"))
    for media in spec.get("content") or {}:
        schema_pointer = join_pointer(pointer, "content", media, "schema")
        for schema, _ in property_rules(contract, schema_pointer):
            for name in schema.get("properties") or {}:
                if _CREDENTIAL_FIELD.search(name):
                    return str(name)
    return None


def leaks(query: Sequence[tuple[str, str]], headers: Mapping[str, str],
           body: bytes | None) -> Iterator[tuple[str, str]]:
    """(location, observed) of every key-like token in the message."""
    for name, value in headers.items():
        if carries_key(value):
            yield f"header.{header_name(name)}", f"{header_name(name)}: {value}"
    for name, value in query:
        if carries_key(value):
            yield f"query.{name}", f"{name}={value}"
    if not body:
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace")
        found = KEY_PATTERN.search(text) or _BEARER_KEY.search(text) or MASKED_KEY_PATTERN.search(text)
        if found:
            yield "body", text[max(0, found.start() - 40): found.end() + 40]
        return
    stack: list[tuple[Any, str]] = [(parsed, "body")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str) and carries_key(value):
            yield where, value
        elif isinstance(value, dict):
            stack.extend((v, f"{where}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))


