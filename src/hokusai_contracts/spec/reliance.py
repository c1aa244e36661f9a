"""What known consumers read of an answer that the provider's contract does not document.

A consumer relying on an undocumented field breaks silently when the provider drops it, and no
spec diff can say so: the field was never in either contract. Production's MLflow proxy and admin
gateway read ``is_admin``, ``roles``, ``email`` and ``user`` of the validate answer, which the auth
contract does not declare; their expectations file records it (``contracts/consumers/``), and
``spec-check`` tells the auth team, per operation and status, what its consumers rely on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hokusai_contracts.contracts._source import join_pointer
from hokusai_contracts.contracts.known_values import property_rules
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.spec.consumers import Consumer

__all__ = ["UndocumentedRead", "undocumented_reads"]


@dataclass(frozen=True)
class UndocumentedRead:
    consumer: str
    operation: str  # as the consumer names it
    status: str
    location: str  # body.<field>... or header.<Name>

    def describe(self, contract: Contract) -> str:
        return (f"consumer {self.consumer} reads {self.location} of the {self.status} answer to {self.operation}, "
                f"which {contract.display_path} does not document: document it, or tell the consumer it may go")


def undocumented_reads(consumers: Sequence[Consumer], contract: Contract) -> list[UndocumentedRead]:
    """Every read of a consumer of ``contract`` that ``contract`` does not declare, in file order."""
    found = []
    for consumer in consumers:
        if consumer.contract and not contract.display_path.endswith(consumer.contract.removeprefix("contracts/")):
            continue
        for label, calls in consumer.operations.items():
            method, _, path = label.partition(" ")
            operation = contract.find_operation(method, path.replace("{", "x").replace("}", "x"))
            if operation is None:
                continue  # a removed operation is the diff's finding, not this one's
            for status, locations in calls.reads.items():
                response = join_pointer(operation.pointer, "responses", status)
                if status not in (operation.spec.get("responses") or {}):
                    continue  # an undocumented status is the judge's finding
                found += [UndocumentedRead(consumer.name, label, status, location) for location in locations
                          if not _declared(contract, response, location)]
    return found


def _declared(contract: Contract, response_pointer: str, location: str) -> bool:
    response, at = contract.deref(response_pointer)
    kind, _, rest = location.partition(".")
    if kind == "header":
        return rest.lower() in {name.lower() for name in response.get("headers") or {}}
    content = response.get("content") or {}
    if not rest:
        return bool(content)
    segments = rest.replace("[]", "").split(".")
    return any(_has_path(contract, join_pointer(at, "content", media, "schema"), segments) for media in content)


def _has_path(contract: Contract, pointer: str, segments: list[str]) -> bool:
    if not segments:
        return True
    for schema, at in property_rules(contract, pointer):
        if segments[0] in (schema.get("properties") or {}):
            if _has_path(contract, join_pointer(at, "properties", segments[0]), segments[1:]):
                return True
        if "items" in schema and _has_path(contract, join_pointer(at, "items"), segments):
            return True
    return False
