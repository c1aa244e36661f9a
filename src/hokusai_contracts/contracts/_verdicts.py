"""One message's findings, and the small text helpers every judgement shares."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact

__all__ = ["Verdicts", "as_text", "header_name", "is_json", "media_for"]

_PARTY = {"client": "client", "proxy": "proxy", "auth": "auth service", "mlflow": "MLflow server"}
# Header names as people write them; anything else is title-cased per dash-separated part.
_CANONICAL = {"x-api-key": "X-API-Key", "www-authenticate": "WWW-Authenticate"}
CLIP = 200


@dataclass
class Verdicts:
    """The findings of one message, deduplicated by (kind, location), observed always redacted."""

    contract: Contract
    hop: Hop
    operation: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def sender(self) -> str:
        return _PARTY.get(self.hop.sender, self.hop.sender)

    @property
    def receiver(self) -> str:
        return _PARTY.get(self.hop.receiver, self.hop.receiver)

    def at(self, location: str) -> bool:
        return any(f.location == location for f in self.findings)

    def add(self, kind: FindingKind, location: str, pointer: str | None, expected: str,
            observed: str, recommendation: str) -> None:
        if any(f.kind == kind and f.location == location for f in self.findings):
            return
        self.findings.append(Finding(
            hop=self.hop, operation=self.operation, kind=kind, location=location,
            contract=self.contract.ref(pointer) if pointer is not None else None,
            expected=expected, observed=clip(redact(observed)),
            recommendation=redact(recommendation)))


def clip(text: str, limit: int = CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_text(value: Any) -> str:
    """A value as JSON text, so ``"200"`` (a string) and ``200`` (a number) read differently."""
    return json.dumps(value, default=str)


def header_name(name: str) -> str:
    lower = name.lower()
    return _CANONICAL.get(lower) or "-".join(p.capitalize() for p in lower.split("-"))


def media_for(content_type: str, content: Mapping[str, Any]) -> str | None:
    base = content_type.split(";", 1)[0].strip().lower()
    for key in content:
        if key.lower() == base:
            return key
    for key in content:
        wild = key.lower()
        if wild == "*/*" or (wild.endswith("/*") and base.startswith(wild[:-1])):
            return key
    return None


def is_json(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")

