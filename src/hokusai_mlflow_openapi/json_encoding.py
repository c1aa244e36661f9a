"""MLflow's JSON encoding of its protobuf messages, written as JSON Schema.

MLflow's server does not use plain proto3 JSON, and it reads more than it writes
(``mlflow.utils.proto_json_utils``):

- Responses are ``MessageToDict(preserving_proto_field_name=True)`` with int64 fields turned back
  into JSON *numbers* (``message_to_json(convert_int64_to_number=True)``), enums as names, doubles
  as numbers or ``"NaN"``/``"Infinity"``/``"-Infinity"``, bytes as base64, maps as objects.
- Requests go through ``ParseDict(ignore_unknown_fields=True)``, which also takes integers as
  decimal strings, doubles as numeric strings and enums by number. A message whose request form
  differs therefore gets a second component, ``<name>-input`` (``-`` cannot occur in proto names,
  so it never collides).
- Query strings (GET) carry text; ``_get_request_message`` hands each value to ParseDict, so
  integers are stated as integers there and serialised by the caller.
- JSON ``null`` for a field is that field's absence: ParseDict clears it (protobuf's
  json_format ``_ConvertFieldValuePair``: ``if value is None: ... _ClearFieldOrExtension(...);
  continue``, only ``google.protobuf.Value`` and ``NullValue`` fields excepted), at any depth, for
  scalars, enums, messages, repeated and map fields alike. So every *optional* field of a request
  schema also takes ``null`` (and so nearly every message a request carries has an ``-input``
  form); a required one does not, because the handlers' ``_assert_required`` reads the raw JSON
  and rejects ``None`` as it rejects a missing key.
  Measured against ``mlflow server`` 3.17.2 (sqlite store), each ``null`` answered exactly as the
  field's absence: experiments/create ``{"name": "x", "tags": null}`` 200,
  registered-models/get-latest-versions ``{"name": ..., "stages": null}`` 200,
  logged-models/search ``{"experiment_ids": ["0"], "page_token": null, "max_results": null, ...}``
  200, registered-models/create ``{"name": ..., "deployment_job_id": null}`` 200, run_id ``null``
  next to a run_uuid 200; and ``{"name": null}`` 400 "Missing value for required parameter 'name'".
  Items of a repeated field and map values stay non-null (json_format: "null is not allowed to be
  used as an element in a repeated field"); responses never carry ``null`` (MessageToDict leaves
  unset fields out). Exceptions are MLflow's bugs, not the protocol: log-batch's ``metrics``,
  ``params`` or ``tags`` as ``null`` and runs/search's ``max_results`` as ``null`` answer 500
  (a handler's own validator iterates or ``int()``s the raw ``None``: TypeError), while their
  absence is 200.

Runtime rules (:mod:`.mlflow_runtime`) apply to requests only; response schemas say what the
server emits and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from hokusai_mlflow_openapi.runtime_rules import MESSAGE_RULES, RUNTIME_RULES, FieldRule

__all__ = ["JSON", "Direction", "SchemaBuilder", "component_name", "or_null", "scalar_schema"]

JSON = dict[str, Any]
# output: what the server emits; input: a JSON body it accepts; query: a GET's query string.
Direction = Literal["input", "output", "query"]

_T = FieldDescriptor
_INT32, _INT64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
_INT_RANGES: Final[Mapping[int, tuple[tuple[int, int], str | None]]] = {
    _T.TYPE_INT32: (_INT32, "int32"),
    _T.TYPE_SINT32: (_INT32, "int32"),
    _T.TYPE_SFIXED32: (_INT32, "int32"),
    _T.TYPE_UINT32: ((0, 2**32 - 1), None),
    _T.TYPE_FIXED32: ((0, 2**32 - 1), None),
    _T.TYPE_INT64: (_INT64, "int64"),
    _T.TYPE_SINT64: (_INT64, "int64"),
    _T.TYPE_SFIXED64: (_INT64, "int64"),
    _T.TYPE_UINT64: ((0, 2**64 - 1), None),
    _T.TYPE_FIXED64: ((0, 2**64 - 1), None),
}
_INTEGER_STRING: Final = r"^-?[0-9]+$"
_FLOAT_SPECIALS: Final = ["NaN", "Infinity", "-Infinity"]
_FLOAT_STRING: Final = r"^(NaN|-?Infinity|-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)$"
_NUMERIC_KEYWORDS: Final = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
# Well-known types have their own JSON mapping (protobuf's json_format), not their fields'.
_WELL_KNOWN: Final[Mapping[str, JSON]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {"type": "object", "required": ["@type"]},
    "google.protobuf.Empty": {"type": "object"},
}


def component_name(message: Descriptor, direction: Direction = "output") -> str:
    """``mlflow.Metric`` -> ``mlflow_Metric``; its request form, when different, ``-input``."""
    name = str(message.full_name).replace(".", "_")
    if direction != "output" and _input_form_differs(message, set()):
        return f"{name}-input"
    return name


def _input_form_differs(message: Descriptor, seen: set[str]) -> bool:
    """Whether ParseDict accepts more for this message than MessageToDict emits."""
    if message.full_name in _WELL_KNOWN or message.full_name in seen:
        return False
    seen.add(message.full_name)
    rules = RUNTIME_RULES.get(message.full_name, {})
    for field in message.fields:
        if field.type in _INT_RANGES or field.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT, _T.TYPE_ENUM):
            return True
        if not _is_required(field, rules.get(field.name)):
            return True  # an optional field also takes null
        if field.message_type is not None and _input_form_differs(field.message_type, seen):
            return True
    return False


class SchemaBuilder:
    """Turns descriptors into JSON Schemas, collecting named components on the way."""

    def __init__(self) -> None:
        self.components: dict[str, JSON] = {}
        #: Rules this MLflow's protos give no field for (an older version): left out, said here.
        self.unmapped: list[str] = []

    def ref(self, message: Descriptor, direction: Direction) -> JSON:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        name = component_name(message, direction)
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive messages refer to themselves
            self.components[name] = self.message(message, direction)
        return {"$ref": f"#/components/schemas/{name}"}

    def message(
        self, message: Descriptor, direction: Direction, skip: frozenset[str] = frozenset()
    ) -> JSON:
        """An object schema; ``skip`` leaves out fields a path parameter carries."""
        rules = RUNTIME_RULES.get(message.full_name, {}) if direction != "output" else {}
        names = {f.name for f in message.fields}
        for ruled in sorted({key.split("[]", 1)[0] for key in rules} - names):
            self._unmapped(f"rule for {message.full_name}.{ruled}: no such field in these protos")
        properties: JSON = {}
        required: list[str] = []
        for field in message.fields:
            if field.name in skip or (field.name in rules and rules[field.name].omit):
                continue
            prop = self.field(field, direction, rules)
            if direction != "output" and _is_required(field, rules.get(field.name)):
                required.append(field.name)
            elif direction == "input":
                prop = or_null(prop)  # ParseDict reads null as absent
            properties[field.name] = prop
        schema: JSON = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if direction == "input":
            # Keyword by keyword: LogMetric's run_id-or-run_uuid rule holds in MLflow 2.x, whose
            # protos lack the dataset fields its other rule names.
            for keyword, rule in MESSAGE_RULES.get(message.full_name, {}).items():
                missing = sorted(_named_fields({keyword: rule}) - names)
                if missing:
                    self._unmapped(f"rule for {message.full_name} on {', '.join(missing)}: no such field in these "
                                   "protos")
                else:
                    schema[keyword] = rule
        schema["x-proto-message"] = message.full_name
        return schema

    def _unmapped(self, note: str) -> None:
        if note not in self.unmapped:
            self.unmapped.append(note)

    def field(
        self, field: FieldDescriptor, direction: Direction, rules: Mapping[str, FieldRule]
    ) -> JSON:
        """One property; ``rules`` are the request's runtime rules (empty for responses)."""
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            schema: JSON = {
                "type": "object",
                "additionalProperties": self._single(value, direction, {}),
            }
        else:
            schema = self._single(field, direction, _item_rules(rules, field.name))
            if _is_repeated(field):
                item_rule = rules.get(f"{field.name}[]")
                if item_rule is not None and field.message_type is not None:
                    absent = _named_fields(item_rule.keywords) - {f.name for f in field.message_type.fields}
                    if absent:
                        self._unmapped(f"rule for {field.full_name}[] on {', '.join(sorted(absent))}: no such "
                                       "field in these protos")
                        item_rule = None
                if item_rule is not None:
                    schema = apply_rule(schema, item_rule)
                schema = {"type": "array", "items": schema}
        rule = rules.get(field.name)
        return schema if rule is None else apply_rule(schema, rule)

    def _single(
        self, field: FieldDescriptor, direction: Direction, item_rules: Mapping[str, FieldRule]
    ) -> JSON:
        if field.message_type is not None:
            ref = self.ref(field.message_type, direction)
            if not item_rules:
                return ref
            # Rules on the items of one request (log-batch's metrics[].key) must not leak into
            # the shared component, so they narrow it here.
            return {"allOf": [ref, self._narrowing(field.message_type, direction, item_rules)]}
        if field.enum_type is not None:
            return _enum_schema(field.enum_type, direction)
        return scalar_schema(field.type, direction)

    def _narrowing(
        self, item: Descriptor, direction: Direction, item_rules: Mapping[str, FieldRule]
    ) -> JSON:
        """What one request adds to its items' shared schema.

        A field the rules make required also gets its JSON types, which leave out null: the
        shared component, where the field is optional, takes null, and the handler rejects null
        as missing.
        """
        properties: JSON = {}
        required: list[str] = []
        for name, rule in item_rules.items():
            if name not in item.fields_by_name:
                self._unmapped(f"rule for {item.full_name}.{name}: no such field in these protos")
                continue
            base: JSON = {}
            if rule.required:
                required.append(name)
                types = _json_types(self.field(item.fields_by_name[name], direction, {}))
                base = {"type": types[0] if len(types) == 1 else types}
            properties[name] = apply_rule(base, rule)
        narrowing: JSON = {"properties": properties}
        if required:
            narrowing["required"] = required
        return narrowing


def _is_repeated(field: FieldDescriptor) -> bool:
    # ``is_repeated`` is protobuf 5's; MLflow 2.x runs on protobuf 4, which has only the label.
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:
        return bool(field.label == _T.LABEL_REPEATED)
    return bool(repeated)


def _named_fields(schema: Any) -> set[str]:
    """The property names a whole-message rule relies on (its ``required`` lists and ``properties``)."""
    names: set[str] = set()
    if isinstance(schema, Mapping):
        names.update(str(n) for n in schema.get("required", []))
        names.update(str(n) for n in (schema.get("properties") or {}))
        for key in ("allOf", "anyOf", "oneOf"):
            for branch in schema.get(key, []):
                names |= _named_fields(branch)
        for key in ("if", "then", "else"):
            names |= _named_fields(schema.get(key))
    return names


def scalar_schema(proto_type: int, direction: Direction) -> JSON:
    """The JSON form of a scalar field, as emitted (output) or as accepted (input, query)."""
    if proto_type in _INT_RANGES:
        (low, high), fmt = _INT_RANGES[proto_type]
        number: JSON = {"type": "integer"}
        if fmt:
            number["format"] = fmt
        number.update(minimum=low, maximum=high)
        if direction == "input":
            return {"anyOf": [number, {"type": "string", "pattern": _INTEGER_STRING}]}
        return number
    if proto_type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        text: JSON = {"type": "string", "pattern": _FLOAT_STRING}
        if direction == "output":
            text = {"type": "string", "enum": _FLOAT_SPECIALS}
        return {"anyOf": [{"type": "number"}, text]}
    if proto_type == _T.TYPE_BOOL:
        return {"type": "boolean"}
    if proto_type == _T.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    return {"type": "string"}


def _enum_schema(enum: EnumDescriptor, direction: Direction) -> JSON:
    names: JSON = {"type": "string", "enum": [v.name for v in enum.values]}
    if direction == "output":
        return names
    # ParseDict takes a closed enum's number as well as its name.
    return {"anyOf": [names, {"type": "integer", "enum": [v.number for v in enum.values]}]}


def _is_required(field: FieldDescriptor, rule: FieldRule | None) -> bool:
    from mlflow.protos import databricks_pb2

    if rule is not None and rule.required is not None:
        return rule.required
    return bool(field.GetOptions().Extensions[databricks_pb2.validate_required])


def apply_rule(schema: JSON, rule: FieldRule) -> JSON:
    """``schema`` narrowed by ``rule``'s keywords, its evidence as the description."""
    keywords = dict(rule.keywords)
    if "anyOf" in schema and keywords.keys() & _NUMERIC_KEYWORDS:
        # A range cannot be stated on ParseDict's decimal-string form, so a ranged field takes
        # numbers only, as every MLflow client sends them.
        schema = next(b for b in schema["anyOf"] if b.get("type") == "integer")
    described = {**schema, **keywords}
    if "allOf" in schema and "allOf" in keywords:
        described["allOf"] = [*schema["allOf"], *keywords["allOf"]]
    if rule.evidence:
        described["description"] = f"MLflow server: {rule.evidence}"
    return described


def or_null(schema: JSON) -> JSON:
    """``schema`` that also takes JSON ``null``, which ParseDict reads as the field's absence.

    A plain ``type`` gains ``"null"``; an ``anyOf`` gains a null branch. A schema with a keyword
    that would judge null too (``$ref``, ``enum``, ``allOf``, ...) is wrapped in an ``anyOf``
    instead, its description kept outside.
    """
    kind = schema.get("type")
    if not schema.keys() & _ALL_TYPES_KEYWORDS:
        if "anyOf" in schema and kind is None:
            return {**schema, "anyOf": [*schema["anyOf"], _NULL]}
        if isinstance(kind, str) and "anyOf" not in schema:
            return {**schema, "type": [kind, "null"]}
        if isinstance(kind, list) and "anyOf" not in schema:
            return {**schema, "type": kind if "null" in kind else [*kind, "null"]}
        if not schema.keys() - _ANNOTATIONS:  # {} (google.protobuf.Value) takes null already
            return schema
    inner = {k: v for k, v in schema.items() if k != "description"}
    wrapped: JSON = {"anyOf": [inner, _NULL]}
    if "description" in schema:
        wrapped["description"] = schema["description"]
    return wrapped


_NULL: Final[JSON] = {"type": "null"}
# Keywords that judge an instance of any type, null included.
_ALL_TYPES_KEYWORDS: Final = frozenset({"$ref", "enum", "const", "allOf", "oneOf", "not", "if"})
_ANNOTATIONS: Final = frozenset({"description", "deprecated", "title", "examples"})


def _json_types(schema: JSON) -> list[str]:
    """The JSON types a field's (non-null) schema allows, in a fixed order."""
    if "$ref" in schema:
        return ["object"]  # message components are objects
    kind = schema.get("type")
    if kind is not None:
        return [kind] if isinstance(kind, str) else list(kind)
    found: list[str] = []
    for branch in schema.get("anyOf", []):
        found += [t for t in _json_types(branch) if t not in found]
    return found


def _item_rules(rules: Mapping[str, FieldRule], field_name: str) -> dict[str, FieldRule]:
    prefix = f"{field_name}[]."
    return {k[len(prefix) :]: v for k, v in rules.items() if k.startswith(prefix)}
