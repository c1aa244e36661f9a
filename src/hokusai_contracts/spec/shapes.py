"""Schemas as *shapes*: ``$ref``s followed and ``anyOf``/``oneOf``/``allOf`` folded into one.

``anyOf: [string, null]``, ``type: [string, 'null']`` and 3.0's ``nullable: true`` are the same
shape: one set of types, one set of constraint keywords and one set of properties, each
remembering the JSON pointer it was written at, so a change cites the very line on each side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hokusai_contracts.contracts.loading import Contract

__all__ = ["Shape", "bound_of", "escape", "join", "nearest_pointer", "shape_of"]

def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def join(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape(str(t)) for t in tokens)


def nearest_pointer(contract: Contract, pointer: str) -> str:
    """``pointer`` if it names something in ``contract``, else its nearest existing parent."""
    while pointer:
        try:
            contract.node(pointer)
            return pointer
        except (KeyError, IndexError, TypeError, ValueError):
            pointer = pointer.rsplit("/", 1)[0]
    return pointer


_VALUE_KEYWORDS = (
    "enum", "x-known-values", "pattern", "format", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "minProperties", "maxProperties",
    "multipleOf", "uniqueItems",
)
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


@dataclass
class Shape:
    pointer: str  # the schema after $ref: where a missing keyword or property is cited
    type_pointer: str
    types: set[str] = field(default_factory=set)
    any_type: bool = False  # some branch has no type: every JSON value is allowed
    keywords: dict[str, tuple[Any, str]] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)  # name -> pointer of its schema
    properties_pointer: str | None = None
    required: dict[str, str] = field(default_factory=dict)  # name -> pointer of its `required` entry
    required_pointer: str | None = None
    items: str | None = None

    def type_set(self) -> frozenset[str] | None:
        """The JSON types a value may have; None when any value is allowed."""
        return None if self.any_type else frozenset(self.types)


def shape_of(contract: Contract, pointer: str) -> Shape:
    schema, at = contract.deref(pointer)
    if isinstance(schema, dict):
        holder = next((k for k in ("type", "anyOf", "oneOf", "allOf") if k in schema), None)
        shape = Shape(at, join(at, holder) if holder else at)
    else:
        shape = Shape(at, at)
    _collect(contract, schema, at, shape, set())
    return shape


def _collect(contract: Contract, schema: Any, at: str, shape: Shape, seen: set[str]) -> None:
    if at in seen:
        return
    seen.add(at)
    if not isinstance(schema, dict):  # a boolean schema: `true` allows anything, `false` nothing
        shape.any_type = shape.any_type or schema is True
        return
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared) if isinstance(declared, list) else set()
    if schema.get("nullable") is True:  # OpenAPI 3.0
        types.add("null")
    values = schema["enum"] if isinstance(schema.get("enum"), list) else (
        [schema["const"]] if "const" in schema else None)
    if not types and values is not None:
        types = {"null" if v is None else _JSON_TYPES.get(type(v), "string") for v in values}
    if not types and "properties" in schema:
        types = {"object"}
    if not types and "items" in schema:
        types = {"array"}
    branches = [k for k in ("anyOf", "oneOf", "allOf") if isinstance(schema.get(k), list)]
    if not types and not branches:
        shape.any_type = True
    shape.types |= types
    if values is not None:
        shape.keywords.setdefault("enum", (values, join(at, "enum" if "enum" in schema else "const")))
    for keyword in _VALUE_KEYWORDS:
        if keyword in schema and keyword != "enum":
            shape.keywords.setdefault(keyword, (schema[keyword], join(at, keyword)))
    if isinstance(schema.get("properties"), dict):
        shape.properties_pointer = shape.properties_pointer or join(at, "properties")
        for name in schema["properties"]:
            shape.properties.setdefault(name, join(at, "properties", name))
    if isinstance(schema.get("required"), list):
        shape.required_pointer = shape.required_pointer or join(at, "required")
        for index, name in enumerate(schema["required"]):
            shape.required.setdefault(str(name), join(at, "required", index))
    if "items" in schema and shape.items is None and isinstance(schema["items"], dict):
        shape.items = join(at, "items")
    for keyword in branches:
        for index, _ in enumerate(schema[keyword]):
            branch, branch_at = contract.deref(join(at, keyword, index))
            _collect(contract, branch, branch_at, shape, seen)


def bound_of(shape: Shape, keyword: str, exclusive_keyword: str) -> tuple[float, bool, str] | None:
    """The effective bound (value, exclusive, pointer), folding 3.0's boolean and 3.1's numeric exclusives."""
    plain = shape.keywords.get(keyword)
    exclusive = shape.keywords.get(exclusive_keyword) if exclusive_keyword else None
    found: list[tuple[float, bool, str]] = []
    if plain is not None and isinstance(plain[0], (int, float)) and not isinstance(plain[0], bool):
        found.append((float(plain[0]), bool(exclusive and exclusive[0] is True), plain[1]))
    if exclusive is not None and isinstance(exclusive[0], (int, float)) and not isinstance(exclusive[0], bool):
        found.append((float(exclusive[0]), True, exclusive[1]))
    if not found:
        return None
    lower = keyword.startswith("min")
    # The tighter of the two: for a lower bound the larger value, exclusive winning a tie.
    return max(found, key=lambda b: (b[0] if lower else -b[0], b[1]))
