"""Known values: the closed set of values a property name stands for across a contract.

Incident 2: the proxy validated keys for ``service_id: "ml-platform"``. The
validate request schema types ``service_id`` as a free string, so schema
validation passes, yet keys are only ever issued for ``website | prediction |
platform``: the pattern of ``APIKeyCreate.service_id``. The contract already
knows the set; it just writes it on another schema.

The rule, per property name (body properties and query parameters alike):

1. A property whose own schema has ``enum``, ``const`` or ``pattern`` is
   judged by schema validation alone (a ``request_schema`` finding).
2. Otherwise, if its own schema lists ``x-known-values: [...]``, the value
   must be one of them.
3. Otherwise, if any schema in the contract gives a property (or parameter)
   of the same name ``x-known-values`` or a pattern that is a plain closed
   alternation, ``^(a|b|c)$``, the value must be in the union of those sets.

A value outside the set is an ``unknown_value`` finding citing the rule that
defines the set. Enums elsewhere are deliberately not collected: a
one-member ``enum`` used as a tag would wrongly close a name that is free
everywhere else; a ``^(a|b)$`` pattern or ``x-known-values`` is a choice the
author made on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hokusai_contracts.contracts._source import join_pointer, walk_mappings
from hokusai_contracts.contracts.loading import Contract

__all__ = ["KnownValues", "closed_set", "known_values_from_contract", "property_rules"]

_ALTERNATION = re.compile(r"\^\((?:\?:)?([\w.\- ]+(?:\|[\w.\- ]+)*)\)\$")


@dataclass(frozen=True)
class KnownValues:
    """The values a property name may take, and the rule (JSON pointer) that says so."""

    values: tuple[str, ...]
    pointer: str

    def __contains__(self, value: object) -> bool:
        return value in self.values


def closed_set(schema: Any) -> tuple[str, ...] | None:
    """The values ``x-known-values`` or a ``^(a|b|c)$`` pattern of ``schema`` allows, if any."""
    if not isinstance(schema, dict):
        return None
    listed = schema.get("x-known-values")
    if isinstance(listed, list) and listed:
        return tuple(str(v) for v in listed)
    pattern = schema.get("pattern")
    found = _ALTERNATION.fullmatch(pattern) if isinstance(pattern, str) else None
    return tuple(found.group(1).split("|")) if found else None


def property_rules(contract: Contract, pointer: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The schema at ``pointer`` and its ``anyOf``/``oneOf``/``allOf`` branches, refs resolved."""
    stack, seen = [pointer], set()
    while stack:
        at = stack.pop()
        if at in seen:
            continue
        seen.add(at)
        schema, at = contract.deref(at)
        if not isinstance(schema, dict):
            continue
        yield schema, at
        for keyword in ("allOf", "anyOf", "oneOf"):
            for index, _ in enumerate(schema.get(keyword) or []):
                stack.append(join_pointer(at, keyword, index))


def known_values_from_contract(contract: Contract) -> dict[str, KnownValues]:
    """Collect, per property name, the closed sets written anywhere in ``contract``.

    The set is the union of every source; the finding cites one rule, an
    ``x-known-values`` in preference to a pattern (it was written to name the
    set), then the first by pointer, so the citation is stable across runs.
    """
    sources: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}

    def collect(name: str, pointer: str) -> None:
        for schema, at in property_rules(contract, pointer):
            values = closed_set(schema)
            if values:
                rule = "x-known-values" if "x-known-values" in schema else "pattern"
                rank = 0 if rule == "x-known-values" else 1
                sources.setdefault(name, []).append((rank, join_pointer(at, rule), values))

    for at, mapping in walk_mappings(contract.document):
        properties = mapping.get("properties")
        if isinstance(properties, dict):
            for name in properties:
                collect(name, join_pointer(at, "properties", name))
        if isinstance(mapping.get("name"), str) and "in" in mapping and "schema" in mapping:
            collect(mapping["name"], join_pointer(at, "schema"))

    known: dict[str, KnownValues] = {}
    for name, found in sources.items():
        found.sort(key=lambda item: (item[0], item[1]))
        union: list[str] = []
        for _, _, values in found:
            union.extend(v for v in values if v not in union)
        known[name] = KnownValues(tuple(union), found[0][1])
    return known
