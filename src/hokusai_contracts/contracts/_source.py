"""The source text of a contract: parsing with line numbers, JSON pointers, document checks.

A finding is only useful if a reader can open the rule it cites, so parsing
keeps, next to the data, the 1-based source line of every JSON pointer. Lines
come from PyYAML's composed nodes; JSON files get them the same way because
YAML is a superset of JSON.

The checks reject what would make judging lie or crash later: a local ``$ref``
that points at nothing, a document openapi-spec-validator refuses, a schema
its dialect refuses. Each becomes one ``ContractError`` with file and line.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Hashable, Iterator
from typing import Any

import yaml
from jsonschema.exceptions import SchemaError
from openapi_schema_validator import OAS30Validator, OAS31Validator
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from hokusai_contracts._errors import ContractError

__all__ = [
    "SPEC_HINT",
    "check_document",
    "escape",
    "walk_mappings",
    "join_pointer",
    "nearest_line",
    "parse_with_lines",
    "split_pointer",
]

SPEC_HINT = "Fix the document or point SPEC at an OpenAPI 3.0/3.1 document."
SYNTAX_HINT = "Fix the syntax or point SPEC at an OpenAPI 3.0/3.1 document."


def escape(token: str) -> str:
    """Escape one JSON-pointer token (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape(str(t)) for t in tokens)


def split_pointer(pointer: str) -> list[str]:
    pointer = pointer.removeprefix("#")
    if pointer in ("", "/"):
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


class _OpenAPIData(yaml.constructor.SafeConstructor):
    """Safe loading that keeps OpenAPI's data model: JSON types, string keys.

    PyYAML would turn ``200:`` into an int key and ``2024-01-01`` into a date;
    an OpenAPI document has string keys and no dates, so keys keep their
    source text and timestamps stay strings.
    """

    yaml_implicit_resolvers = {
        first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        self.flatten_mapping(node)
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else key_node
            mapping[str(key)] = self.construct_object(value_node, deep=deep)
        return mapping


class _PyLoader(_OpenAPIData, yaml.SafeLoader):
    pass


# libyaml when installed: ~20x faster on the generated MLflow contract.
_Loader: type[yaml.SafeLoader] = _PyLoader
if getattr(yaml, "CSafeLoader", None) is not None:
    class _CLoader(_OpenAPIData, yaml.CSafeLoader):
        pass

    _Loader = _CLoader  # type: ignore[assignment]


def parse_with_lines(
    text: str, display: str, *, is_json: bool = False
) -> tuple[Any, dict[str, int]]:
    """Parse YAML (or JSON) text; return the data and a map JSON pointer -> 1-based line."""
    if is_json:
        # json.loads for the data: exact JSON semantics and its own error positions. PyYAML
        # still gives the lines; a raw tab can only be whitespace in valid JSON (not inside a
        # string), so swapping tabs for spaces, which YAML's scanner refuses, keeps every line.
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(
                display, f"not valid JSON ({exc.msg}, column {exc.colno})", line=exc.lineno,
                hint=SYNTAX_HINT,
            ) from exc
        try:
            return data, parse_with_lines(text.replace("\t", " "), display)[1]
        except ContractError:
            return data, {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _syntax_error(_python_error(text) or exc, display) from exc
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        lines[""] = node.start_mark.line + 1
        _index_lines(node, "", lines)
    return data, lines


def _python_error(text: str) -> yaml.YAMLError | None:
    """PyYAML's own parser's complaint: libyaml's are terser ("not allowed in this context")."""
    if _Loader is _PyLoader:
        return None
    try:
        _PyLoader(text).get_single_data()
    except yaml.YAMLError as exc:
        return exc
    return None


def _syntax_error(exc: yaml.YAMLError, display: str) -> ContractError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return ContractError(display, f"not valid YAML ({exc.problem or exc.context})",
                             line=mark.line + 1 if mark else None, hint=SYNTAX_HINT)
    return ContractError(display, f"not valid YAML ({exc})", hint=SYNTAX_HINT)


def _index_lines(node: yaml.Node, pointer: str, lines: dict[str, int]) -> None:
    # Iterative: generated contracts (MLflow) nest deeply enough to matter.
    stack: list[tuple[yaml.Node, str]] = [(node, pointer)]
    while stack:
        current, at = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                # The key's line, not the value's: that is where a reader looks for `required:`.
                child = join_pointer(at, str(key_node.value))
                lines.setdefault(child, key_node.start_mark.line + 1)
                stack.append((value_node, child))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                child = join_pointer(at, index)
                lines.setdefault(child, item.start_mark.line + 1)
                stack.append((item, child))


def walk_mappings(value: Any, pointer: str = "", *,
                  skip_examples: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (pointer, dict) for every mapping in a document, by default not inside examples."""
    stack: list[tuple[Any, str]] = [(value, pointer)]
    while stack:
        current, at = stack.pop()
        if isinstance(current, dict):
            yield at, current
            for key, child in current.items():
                # Examples are data, not rules: a "$ref" or "schema" key there is just text.
                if not skip_examples or key not in ("example", "examples"):
                    stack.append((child, join_pointer(at, key)))
        elif isinstance(current, list):
            stack.extend((child, join_pointer(at, i)) for i, child in enumerate(current))


def check_document(document: dict[str, Any], display: str, lines: dict[str, int]) -> None:
    """Raise ContractError for a dangling $ref, an invalid document or an invalid schema."""
    _check_refs(document, display, lines)
    # Schemas before the whole document: openapi-spec-validator reports a bad schema with a
    # path relative to that schema, which cannot be turned into a line.
    _check_schemas(document, display, lines)
    _check_spec(document, display, lines)


def _check_refs(document: dict[str, Any], display: str, lines: dict[str, int]) -> None:
    for at, mapping in walk_mappings(document):
        ref = mapping.get("$ref")
        if not isinstance(ref, str):
            continue
        line = lines.get(join_pointer(at, "$ref"))
        if not ref.startswith("#"):
            raise ContractError(
                display, f"$ref {ref!r} points outside this file", line=line,
                hint="Bundle the contract into one file (local #/... references only).",
            )
        target: Any = document
        for token in split_pointer(ref):
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                names = list(target) if isinstance(target, dict) else []
                near = difflib.get_close_matches(token, names)
                maybe = f" Did you mean {near[0]!r}?" if near else ""
                raise ContractError(display, f"$ref {ref!r} points at nothing: no {token!r} there",
                                    line=line, hint=f"Add the target or fix the reference.{maybe}")


def _check_spec(document: dict[str, Any], display: str, lines: dict[str, int]) -> None:
    v31 = str(document["openapi"]).startswith("3.1")
    spec_validator = OpenAPIV31SpecValidator if v31 else OpenAPIV30SpecValidator
    try:
        error = next(iter(spec_validator(document).iter_errors()), None)
    except Exception as exc:  # the validator raises on shapes it cannot even walk
        raise ContractError(
            display, f"not a valid OpenAPI document ({str(exc).splitlines()[0] if str(exc) else exc!r})",
            hint=SPEC_HINT
        ) from exc
    if error is not None:
        pointer = join_pointer("", *error.path)
        # The validator's message can run to several paragraphs (the failing schema, the instance);
        # its first line says what is wrong, and the pointer and line say where.
        problem = error.message.split("\n", 1)[0].strip()
        if len(problem) > 300:
            problem = problem[:297] + "..."
        raise ContractError(display, f"not a valid OpenAPI {document['openapi']} document: "
                            f"{problem} (at {pointer or '/'})",
                            line=nearest_line(lines, pointer), hint=SPEC_HINT)


def _check_schemas(document: dict[str, Any], display: str, lines: dict[str, int]) -> None:
    v31 = str(document["openapi"]).startswith("3.1")
    schema_validator: Any = OAS31Validator if v31 else OAS30Validator
    for at, mapping in walk_mappings(document):
        for key in ("schema", "schemas"):
            child = mapping.get(key)
            if not isinstance(child, dict) or (key == "schemas" and not at.endswith("/components")):
                continue
            entries = child.items() if key == "schemas" else [("", child)]
            for name, schema in entries:
                pointer = join_pointer(at, key, name) if name else join_pointer(at, key)
                try:
                    schema_validator.check_schema(schema)
                except SchemaError as exc:
                    where = join_pointer(pointer, *exc.path)
                    raise ContractError(display, f"invalid schema at {where}: {exc.message}",
                                        line=nearest_line(lines, where), hint=SPEC_HINT) from exc


def nearest_line(lines: dict[str, int], pointer: str) -> int | None:
    while pointer not in lines and pointer:
        pointer = pointer.rsplit("/", 1)[0]
    return lines.get(pointer)
