"""Validating a value against one schema of a contract, and citing the exact rule it breaks.

jsonschema reports a schema path relative to the schema it was given, and
``$ref`` hops are invisible in it, so the path alone cannot say which line of
the contract holds the rule. Every error does carry the very dict it was
checked against (``error.schema``); the contract's dicts are the ones the
validator walks (the referencing registry holds the document itself, not a
copy), so a map from ``id(dict)`` to JSON pointer turns each error into a
pointer such as ``/components/schemas/APIKeyValidation/required``.
"""

from __future__ import annotations

import json
import re
import weakref
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from jsonschema.exceptions import UnknownType, ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, OAS31Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4, DRAFT202012

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts._source import join_pointer, walk_mappings
from hokusai_contracts.contracts.known_values import KnownValues, known_values_from_contract, property_rules
from hokusai_contracts.contracts.loading import Contract

__all__ = ["SchemaIssue", "compiled", "describe_location"]

_BASE_URI = "urn:hokusai-contracts:contract"


@dataclass(frozen=True)
class SchemaIssue:
    """One broken rule: where in the value, which rule (pointer), and both sides in words."""

    path: tuple[str | int, ...]  # inside the validated value; a missing property ends with its name
    missing: bool  # a required property is absent
    pointer: str  # JSON pointer of the rule in the contract
    expected: str
    observed: Any  # the offending value (or the object lacking the property)


def describe_location(prefix: str, path: tuple[str | int, ...]) -> str:
    """``body`` + ``("items", 0, "name")`` -> ``body.items[0].name``."""
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


class CompiledContract:
    """Validators and the dict-to-pointer map of one contract, built once and reused.

    Judging a journal of thousands of records hits the same few operations
    again and again, so each validator is built on first use and kept.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        spec = DRAFT202012 if contract.version == "3.1" else DRAFT4
        resource = Resource.from_contents(contract.document, default_specification=spec)
        self._registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
        self._pointer_of = {
            id(node): at for at, node in walk_mappings(contract.document, skip_examples=False)
        }
        self._validators: dict[tuple[str, bool], Any] = {}
        self._rules: dict[str, list[tuple[dict[str, Any], str]]] = {}

    @cached_property
    def known_values(self) -> dict[str, KnownValues]:
        return known_values_from_contract(self.contract)

    @cached_property
    def declares_known_values(self) -> bool:
        """Whether any schema lists ``x-known-values`` (else an empty set means: nothing to do)."""
        return any("x-known-values" in node for _, node in walk_mappings(self.contract.document))

    def rules(self, pointer: str) -> list[tuple[dict[str, Any], str]]:
        """``property_rules`` memoized: a batch body walks the same item schema many times."""
        if pointer not in self._rules:
            self._rules[pointer] = list(property_rules(self.contract, pointer))
        return self._rules[pointer]

    def _validator(self, pointer: str, reading: bool) -> Any:
        key = (pointer, reading)
        if key not in self._validators:
            if self.contract.version == "3.1":
                cls: Any = OAS31Validator
            else:  # 3.0: readOnly properties may be absent from requests, writeOnly from responses
                cls = OAS30ReadValidator if reading else OAS30WriteValidator
            ref = {"$ref": f"{_BASE_URI}#{quote(pointer, safe='/~')}"}
            self._validators[key] = cls(ref, registry=self._registry,
                                        format_checker=cls.FORMAT_CHECKER)
        return self._validators[key]

    def issues(self, pointer: str, value: Any, *, reading: bool) -> list[SchemaIssue]:
        """Every rule of the schema at ``pointer`` that ``value`` breaks.

        ``reading`` is True for a response (OAS 3.0 readOnly/writeOnly differ by direction).
        """
        try:
            errors = list(self._validator(pointer, reading).iter_errors(value))
        except (Unresolvable, UnknownType, re.error) as exc:  # surface only when validating
            raise ContractError(self.contract.display_path, f"cannot use the schema at {pointer}"
                                f" ({exc})", line=self.contract.ref(pointer).line,
                                hint="Fix the schema; `make contract-spec` checks it.") from exc
        found: dict[tuple[tuple[str | int, ...], str], SchemaIssue] = {}
        for error in errors:
            for leaf in _refine(error):
                for issue in self._issues_of(leaf, pointer):
                    found.setdefault((issue.path, issue.pointer), issue)
        return list(found.values())

    def _issues_of(self, error: ValidationError, base: str) -> Iterator[SchemaIssue]:
        holder = self._pointer_of.get(id(error.schema), base)
        keyword = str(error.validator)
        path = tuple(error.absolute_path)
        rule = join_pointer(holder, keyword)
        if keyword == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    yield SchemaIssue((*path, name), True, rule, f"required property {name}",
                                      error.instance)
            return
        yield SchemaIssue(path, False, rule, _expected(error), error.instance)


def _refine(error: ValidationError) -> Iterator[ValidationError]:
    """Report the branch a value was meant for, not "not valid under any of the given schemas".

    For ``anyOf: [{$ref: Obj}, {type: null}]`` and an object lacking a property,
    the null branch fails on type alone; when exactly one branch accepts the
    value's type, its own errors are the real ones.
    """
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        fitting = [errs for errs in branches.values()
                   if not any(e.validator == "type" and not e.relative_path for e in errs)]
        if len(fitting) == 1 and len(branches) == len(error.validator_value):
            for sub in fitting[0]:
                yield from _refine(sub)
            return
    yield error


def _describe(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "anything" if schema is True else "nothing"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        text = " or ".join(str(k) for k in kinds)
        return f"{text} ({schema['format']})" if "format" in schema else text
    return "a value matching the schema"


def _expected(error: ValidationError) -> str:
    keyword, value = str(error.validator), error.validator_value
    if keyword == "type":
        return "type " + (" or ".join(value) if isinstance(value, list) else str(value))
    if keyword in ("anyOf", "oneOf"):
        return " or ".join(_describe(branch) for branch in value)
    if keyword == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in value)
    if keyword == "const":
        return f"exactly {json.dumps(value)}"
    if keyword == "pattern":
        return f"a string matching {value}"
    if keyword == "format":
        return f"a {value} string"
    if keyword == "additionalProperties" and value is False:
        return "no properties beyond those declared"
    return f"{keyword} {json.dumps(value, default=str)}"


_compiled: weakref.WeakKeyDictionary[Contract, CompiledContract] = weakref.WeakKeyDictionary()


def compiled(contract: Contract) -> CompiledContract:
    """The compiled form of ``contract``, built on first use (contracts are cached by mtime)."""
    found = _compiled.get(contract)
    if found is None:
        found = _compiled[contract] = CompiledContract(contract)
    return found
