"""The static spec diff: committed examples, a battery of mutations of the auth contract, bad input."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts._source import parse_with_lines
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.spec import ChangeKind, Severity, SpecChange, diff_files, diff_specs, exit_code, verdict

ROOT = Path(__file__).resolve().parents[2]
CURRENT = ROOT / "contracts" / "auth-service.yaml"
EXAMPLES = ROOT / "contracts" / "examples"

VALIDATE = "/paths/~1api~1v1~1keys~1validate/post"
KEYS = "/paths/~1api~1v1~1keys/post"
S = "/components/schemas"

Row = tuple[str, str, str, str, str, str]  # kind, severity, operation, location, current pointer, candidate pointer


def rows(changes: list[SpecChange]) -> list[Row]:
    return [(c.kind.value, c.severity.value, c.operation, c.location,
             c.current.pointer if c.current else "", c.candidate.pointer if c.candidate else "") for c in changes]


@pytest.fixture(scope="module")
def current() -> Contract:
    return Contract.load(CURRENT, ROOT)


# -- committed examples ----------------------------------------------------------------------

EXAMPLE_CASES: list[tuple[str, Severity, list[Row]]] = [
    ("compatible-new-optional-field.yaml", Severity.COMPATIBLE, [
        ("response_field_added", "compatible", "POST /api/v1/keys/validate", "response.200.body.expires_at",
         f"{S}/ValidationResult/properties", f"{S}/ValidationResult/properties/expires_at"),
    ]),
    ("incident-1-key-in-header.yaml", Severity.BREAKING, [
        ("field_moved", "breaking", "POST /api/v1/keys/validate", "body.api_key",
         f"{S}/APIKeyValidation/properties/api_key", f"{VALIDATE}/security"),
    ]),
    ("narrowed-service-id.yaml", Severity.BREAKING, [
        ("enum_narrowed", "breaking", "POST /api/v1/keys", "body.service_id",
         f"{S}/APIKeyCreate/properties/service_id/x-known-values",
         f"{S}/APIKeyCreate/properties/service_id/x-known-values"),
        ("pattern_changed", "breaking", "POST /api/v1/keys", "body.service_id",
         f"{S}/APIKeyCreate/properties/service_id/pattern", f"{S}/APIKeyCreate/properties/service_id/pattern"),
        ("enum_narrowed", "breaking", "POST /api/v1/keys/validate", "body.service_id",
         f"{S}/APIKeyValidation/properties/service_id/x-known-values",
         f"{S}/APIKeyValidation/properties/service_id/x-known-values"),
    ]),
]


@pytest.mark.parametrize(("example", "expected_verdict", "expected"), EXAMPLE_CASES, ids=[c[0] for c in EXAMPLE_CASES])
def test_committed_example(current: Contract, example: str, expected_verdict: Severity, expected: list[Row]) -> None:
    changes = diff_specs(current, Contract.load(EXAMPLES / example, ROOT))
    assert sorted(rows(changes)) == sorted(expected)
    assert verdict(changes) is expected_verdict
    assert exit_code(changes) == (1 if expected_verdict is Severity.BREAKING else 0)


def test_every_committed_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(c[0] for c in EXAMPLE_CASES)


def test_example_changes_cite_files_and_lines(current: Contract) -> None:
    (moved,) = diff_specs(current, Contract.load(EXAMPLES / "incident-1-key-in-header.yaml", ROOT))
    assert moved.current is not None and moved.candidate is not None
    assert moved.current.file == "contracts/auth-service.yaml"
    assert moved.candidate.file == "contracts/examples/incident-1-key-in-header.yaml"
    assert moved.current.line is not None and moved.candidate.line is not None
    assert CURRENT.read_text().splitlines()[moved.current.line - 1].strip() == "api_key:"
    candidate_lines = (EXAMPLES / "incident-1-key-in-header.yaml").read_text().splitlines()
    assert candidate_lines[moved.candidate.line - 1].strip() == "security:"
    assert "Authorization" in moved.summary and moved.recommendation


# -- identical documents ---------------------------------------------------------------------

def test_identical_documents_have_no_changes(current: Contract, tmp_path: Path) -> None:
    assert diff_specs(current, current) == []
    as_json = tmp_path / "auth-service.json"
    as_json.write_text(json.dumps(current.document, indent=1))
    assert diff_specs(current, Contract.load(as_json, tmp_path)) == []


def test_openapi_30_nullable_equals_31_null_branch(tmp_path: Path) -> None:
    def doc(version: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": {"/x": {"post": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"n": schema}}}}},
            "responses": {"200": {"description": "ok"}}}}}}

    nullable_30 = {"type": "string", "nullable": True, "minimum": 0, "exclusiveMinimum": False}
    null_branch_31 = {"anyOf": [{"type": "string"}, {"type": "null"}], "minimum": 0}
    old = _write(tmp_path / "old.yaml", doc("3.0.3", nullable_30), check=True)
    same = _write(tmp_path / "same.json", doc("3.1.0", null_branch_31), check=True)
    assert diff_specs(old, same) == []
    tighter = _write(tmp_path / "tight.yaml", doc("3.0.3", {"type": "string", "nullable": True, "minimum": 0,
                                                            "exclusiveMinimum": True}))
    assert [(c.kind, c.location) for c in diff_specs(old, tighter)] == [(ChangeKind.BOUND_NARROWED, "body.n")]
    number, integer = _write(tmp_path / "n.yaml", doc("3.0.3", {"type": "number"})), \
        _write(tmp_path / "i.yaml", doc("3.1.0", {"type": "integer"}))
    assert [c.kind.value for c in diff_specs(number, integer)] == ["type_narrowed"]
    assert [c.kind.value for c in diff_specs(integer, number)] == ["type_widened"]
    not_null = _write(tmp_path / "nn.yaml", doc("3.1.0", {"type": "string", "exclusiveMinimum": 0}))
    assert sorted(c.kind.value for c in diff_specs(same, not_null)) == ["bound_narrowed", "type_narrowed"]


# -- a battery of mutations of the current contract ------------------------------------------

Doc = dict[str, Any]


def _write(path: Path, document: Doc, *, check: bool = False) -> Contract:
    """The document as a contract file. Unchecked by default: openapi-spec-validator takes ~0.1 s a
    document, the battery's mutations are made in code, and the committed examples are loaded checked."""
    text = json.dumps(document) if path.suffix == ".json" else yaml.safe_dump(document, sort_keys=False)
    path.write_text(text)
    if check:
        return Contract.load(path, path.parent)
    return Contract(path, path.name, document, parse_with_lines(text, path.name)[1])


def schema(doc: Doc, name: str) -> Doc:
    found: Doc = doc["components"]["schemas"][name]
    return found


def op(doc: Doc, path: str, method: str = "post") -> Doc:
    found: Doc = doc["paths"][path][method]
    return found


def remove_operation(d: Doc) -> None:
    del d["paths"]["/api/v1/keys/{key_id}/rotate"]["post"]


def remove_status(d: Doc) -> None:
    del op(d, "/api/v1/keys/validate")["responses"]["422"]


def add_required_field(d: Doc) -> None:
    schema(d, "APIKeyValidation")["properties"]["client_version"] = {"type": "string"}
    schema(d, "APIKeyValidation")["required"].append("client_version")


def make_field_required(d: Doc) -> None:
    schema(d, "APIKeyValidation")["required"].append("service_id")


def narrow_type(d: Doc) -> None:
    schema(d, "APIKeyValidation")["properties"]["client_ip"] = {"type": "string", "title": "Client Ip"}


def retype_request_field(d: Doc) -> None:
    schema(d, "UsageRecord")["properties"]["response_time_ms"]["type"] = "boolean"


def add_enum(d: Doc) -> None:
    schema(d, "APIKeyValidation")["properties"]["required_scope"]["anyOf"][0]["enum"] = ["read", "write"]


def tighten_pattern(d: Doc) -> None:
    schema(d, "APIKeyCreate")["properties"]["environment"]["pattern"] = "^(production|test)$"


def change_free_pattern(d: Doc) -> None:
    op(d, "/api/v1/usage/{key_id}/stats", "get")["parameters"][1]["schema"]["anyOf"][0]["pattern"] = r"^\d{4}$"


def lower_max_length(d: Doc) -> None:
    schema(d, "APIKeyCreate")["properties"]["name"]["maxLength"] = 50


def raise_minimum(d: Doc) -> None:
    schema(d, "APIKeyCreate")["properties"]["expires_in_days"]["anyOf"][0]["minimum"] = 7


def add_security(d: Doc) -> None:
    op(d, "/api/v1/keys/validate")["security"] = [{"AuthServiceAuth": []}]


def make_response_field_optional(d: Doc) -> None:
    del schema(d, "ValidationResult")["required"]


def remove_response_field(d: Doc) -> None:
    del schema(d, "ValidationResult")["properties"]["user_id"]


def retype_response_field(d: Doc) -> None:
    schema(d, "ValidationResult")["properties"]["is_valid"]["type"] = "string"


def null_response_field(d: Doc) -> None:
    schema(d, "ValidationResult")["properties"]["is_valid"] = {"anyOf": [{"type": "boolean"}, {"type": "null"}]}


def change_response_media_type(d: Doc) -> None:
    content = op(d, "/api/v1/keys/validate")["responses"]["200"]["content"]
    content["application/x-ndjson"] = content.pop("application/json")


def change_request_media_type(d: Doc) -> None:
    content = op(d, "/api/v1/keys/validate")["requestBody"]["content"]
    content["application/x-www-form-urlencoded"] = content.pop("application/json")


def add_required_query_parameter(d: Doc) -> None:
    op(d, "/api/v1/keys/{key_id}", "get")["parameters"].append(
        {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}})


def remove_parameter(d: Doc) -> None:
    op(d, "/api/v1/keys", "get")["parameters"].pop(1)


def move_query_to_header(d: Doc) -> None:
    op(d, "/api/v1/keys", "get")["parameters"][0]["in"] = "header"
    op(d, "/api/v1/keys", "get")["parameters"][0]["required"] = True


def key_to_header_parameter(d: Doc) -> None:
    schema(d, "APIKeyValidation")["required"].remove("api_key")
    op(d, "/api/v1/keys/validate")["parameters"] = [
        {"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"}}]


def key_to_api_key_header(d: Doc) -> None:
    del schema(d, "APIKeyValidation")["properties"]["api_key"]
    schema(d, "APIKeyValidation")["required"].remove("api_key")
    d["components"]["securitySchemes"]["KeyHeader"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    op(d, "/api/v1/keys/validate")["security"] = [{"KeyHeader": []}]


def remove_request_field(d: Doc) -> None:
    del schema(d, "APIKeyValidation")["properties"]["client_ip"]


def remove_response_header_free_status(d: Doc) -> None:
    del op(d, "/api/v1/usage/{key_id}")["responses"]["422"]


# compatible ones

def add_optional_request_field(d: Doc) -> None:
    schema(d, "APIKeyValidation")["properties"]["client_version"] = {"type": "string"}


def add_response_field(d: Doc) -> None:
    schema(d, "ValidationResult")["properties"]["expires_at"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def widen_known_values(d: Doc) -> None:
    schema(d, "APIKeyValidation")["properties"]["service_id"]["x-known-values"].append("analytics")


def widen_pattern(d: Doc) -> None:
    schema(d, "APIKeyCreate")["properties"]["environment"]["pattern"] = "^(production|test|development|staging)$"


def raise_max_length(d: Doc) -> None:
    schema(d, "APIKeyCreate")["properties"]["name"]["maxLength"] = 200


def widen_request_type(d: Doc) -> None:
    schema(d, "APIKeyValidation")["properties"]["api_key"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def narrow_response_type(d: Doc) -> None:
    schema(d, "ValidationResult")["properties"]["key_id"] = {"type": "string", "title": "Key Id"}


def add_status(d: Doc) -> None:
    op(d, "/api/v1/keys/validate")["responses"]["401"] = {"description": "Invalid key"}


def add_optional_parameter(d: Doc) -> None:
    op(d, "/api/v1/keys/{key_id}", "get")["parameters"].append(
        {"name": "verbose", "in": "query", "required": False, "schema": {"type": "boolean"}})


def relax_security(d: Doc) -> None:
    del op(d, "/api/v1/keys/{key_id}", "get")["security"]


def rename_path_parameter(d: Doc) -> None:
    item = d["paths"].pop("/api/v1/keys/{key_id}/rotate")
    item["post"]["parameters"][0]["name"] = "id"
    d["paths"]["/api/v1/keys/{id}/rotate"] = item


def add_operation(d: Doc) -> None:
    d["paths"]["/api/v1/keys/{key_id}/revoke"] = {"post": {
        "parameters": [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}}}}


def make_request_body_optional(d: Doc) -> None:
    op(d, "/api/v1/keys/validate")["requestBody"]["required"] = False


ROTATE = "/paths/~1api~1v1~1keys~1{key_id}~1rotate"
KEY_GET = "/paths/~1api~1v1~1keys~1{key_id}/get"
LIST = "/paths/~1api~1v1~1keys/get"
B, C = "breaking", "compatible"
V_OP, K_OP = "POST /api/v1/keys/validate", "POST /api/v1/keys"

MUTATIONS: list[tuple[Callable[[Doc], None], list[Row]]] = [
    (remove_operation, [("operation_removed", B, "POST /api/v1/keys/{key_id}/rotate", "operation",
                         f"{ROTATE}/post", ROTATE)]),
    (remove_status, [("status_removed", B, V_OP, "response.422", f"{VALIDATE}/responses/422",
                      f"{VALIDATE}/responses")]),
    (add_required_field, [("required_field_added", B, V_OP, "body.client_version",
                           f"{S}/APIKeyValidation/properties", f"{S}/APIKeyValidation/properties/client_version")]),
    (make_field_required, [("required_field_added", B, V_OP, "body.service_id",
                            f"{S}/APIKeyValidation/properties/service_id", f"{S}/APIKeyValidation/required/1")]),
    (narrow_type, [("type_narrowed", B, V_OP, "body.client_ip", f"{S}/APIKeyValidation/properties/client_ip/anyOf",
                    f"{S}/APIKeyValidation/properties/client_ip/type")]),
    (retype_request_field, [("type_narrowed", B, "POST /api/v1/usage/{key_id}", "body.response_time_ms",
                                 f"{S}/UsageRecord/properties/response_time_ms/type",
                                 f"{S}/UsageRecord/properties/response_time_ms/type")]),
    (add_enum, [("enum_narrowed", B, V_OP, "body.required_scope", f"{S}/APIKeyValidation/properties/required_scope",
                 f"{S}/APIKeyValidation/properties/required_scope/anyOf/0/enum")]),
    (tighten_pattern, [("pattern_changed", B, K_OP, "body.environment", f"{S}/APIKeyCreate/properties/environment/"
                        "pattern", f"{S}/APIKeyCreate/properties/environment/pattern")]),
    (change_free_pattern, [("pattern_changed", B, "GET /api/v1/usage/{key_id}/stats", "query.period",
                            "/paths/~1api~1v1~1usage~1{key_id}~1stats/get/parameters/1/schema/anyOf/0/pattern",
                            "/paths/~1api~1v1~1usage~1{key_id}~1stats/get/parameters/1/schema/anyOf/0/pattern")]),
    (lower_max_length, [("bound_narrowed", B, K_OP, "body.name", f"{S}/APIKeyCreate/properties/name/maxLength",
                         f"{S}/APIKeyCreate/properties/name/maxLength")]),
    (raise_minimum, [("bound_narrowed", B, K_OP, "body.expires_in_days",
                      f"{S}/APIKeyCreate/properties/expires_in_days/anyOf/0/minimum",
                      f"{S}/APIKeyCreate/properties/expires_in_days/anyOf/0/minimum")]),
    (add_security, [("security_changed", B, V_OP, "security", VALIDATE, f"{VALIDATE}/security")]),
    (make_response_field_optional, [("response_field_optional", B, V_OP, "response.200.body.is_valid",
                                     f"{S}/ValidationResult/required/0",
                                     f"{S}/ValidationResult/properties/is_valid")]),
    (remove_response_field, [("response_field_removed", B, V_OP, "response.200.body.user_id",
                              f"{S}/ValidationResult/properties/user_id", f"{S}/ValidationResult/properties")]),
    (retype_response_field, [("response_field_retyped", B, V_OP, "response.200.body.is_valid",
                              f"{S}/ValidationResult/properties/is_valid/type",
                              f"{S}/ValidationResult/properties/is_valid/type")]),
    (null_response_field, [("response_field_retyped", B, V_OP, "response.200.body.is_valid",
                            f"{S}/ValidationResult/properties/is_valid/type",
                            f"{S}/ValidationResult/properties/is_valid/anyOf")]),
    (change_response_media_type, [
        ("media_type_changed", B, V_OP, "response.200.body", f"{VALIDATE}/responses/200/content/application~1json",
         f"{VALIDATE}/responses/200/content"),
        ("media_type_added", C, V_OP, "response.200.body", f"{VALIDATE}/responses/200/content",
         f"{VALIDATE}/responses/200/content/application~1x-ndjson")]),
    (change_request_media_type, [
        ("media_type_changed", B, V_OP, "body", f"{VALIDATE}/requestBody/content/application~1json",
         f"{VALIDATE}/requestBody/content"),
        ("media_type_added", C, V_OP, "body", f"{VALIDATE}/requestBody/content",
         f"{VALIDATE}/requestBody/content/application~1x-www-form-urlencoded")]),
    (add_required_query_parameter, [("parameter_added_required", B, "GET /api/v1/keys/{key_id}", "query.tenant",
                                     f"{KEY_GET}/parameters", f"{KEY_GET}/parameters/1")]),
    (remove_parameter, [("parameter_removed", B, "GET /api/v1/keys", "query.active_only", f"{LIST}/parameters/1",
                         f"{LIST}/parameters")]),
    (move_query_to_header, [("field_moved", B, "GET /api/v1/keys", "query.service_id", f"{LIST}/parameters/0",
                             f"{LIST}/parameters/0")]),
    (key_to_header_parameter, [("field_moved", B, V_OP, "body.api_key", f"{S}/APIKeyValidation/properties/api_key",
                                f"{VALIDATE}/parameters/0")]),
    (key_to_api_key_header, [("field_moved", B, V_OP, "body.api_key", f"{S}/APIKeyValidation/properties/api_key",
                              f"{VALIDATE}/security")]),
    (remove_request_field, [("request_field_removed", B, V_OP, "body.client_ip",
                             f"{S}/APIKeyValidation/properties/client_ip", f"{S}/APIKeyValidation/properties")]),
    # compatible
    (add_optional_request_field, [("optional_field_added", C, V_OP, "body.client_version",
                                   f"{S}/APIKeyValidation/properties",
                                   f"{S}/APIKeyValidation/properties/client_version")]),
    (add_response_field, [("response_field_added", C, V_OP, "response.200.body.expires_at",
                           f"{S}/ValidationResult/properties", f"{S}/ValidationResult/properties/expires_at")]),
    (widen_known_values, [("enum_widened", C, V_OP, "body.service_id",
                           f"{S}/APIKeyValidation/properties/service_id/x-known-values",
                           f"{S}/APIKeyValidation/properties/service_id/x-known-values")]),
    (widen_pattern, [("pattern_widened", C, K_OP, "body.environment", f"{S}/APIKeyCreate/properties/environment/"
                      "pattern", f"{S}/APIKeyCreate/properties/environment/pattern")]),
    (raise_max_length, [("bound_widened", C, K_OP, "body.name", f"{S}/APIKeyCreate/properties/name/maxLength",
                         f"{S}/APIKeyCreate/properties/name/maxLength")]),
    (widen_request_type, [("type_widened", C, V_OP, "body.api_key", f"{S}/APIKeyValidation/properties/api_key/type",
                           f"{S}/APIKeyValidation/properties/api_key/anyOf")]),
    (narrow_response_type, [("type_narrowed", C, V_OP, "response.200.body.key_id",
                             f"{S}/ValidationResult/properties/key_id/anyOf",
                             f"{S}/ValidationResult/properties/key_id/type")]),
    (add_status, [("status_added", C, V_OP, "response.401", f"{VALIDATE}/responses",
                   f"{VALIDATE}/responses/401")]),
    (add_optional_parameter, [("parameter_added_optional", C, "GET /api/v1/keys/{key_id}", "query.verbose",
                               f"{KEY_GET}/parameters", f"{KEY_GET}/parameters/1")]),
    (relax_security, [("security_relaxed", C, "GET /api/v1/keys/{key_id}", "security", f"{KEY_GET}/security",
                       KEY_GET)]),
    (make_request_body_optional, [("requirement_relaxed", C, V_OP, "body", f"{VALIDATE}/requestBody/required",
                                   f"{VALIDATE}/requestBody/required")]),
    (add_operation, [("operation_added", C, "POST /api/v1/keys/{key_id}/revoke", "operation", "/paths",
                      "/paths/~1api~1v1~1keys~1{key_id}~1revoke/post")]),
    (rename_path_parameter, []),
]


@pytest.mark.parametrize(("mutate", "expected"), MUTATIONS, ids=[m.__name__ for m, _ in MUTATIONS])
def test_mutation_is_classified(current: Contract, tmp_path: Path, mutate: Callable[[Doc], None],
                                expected: list[Row]) -> None:
    document = copy.deepcopy(current.document)
    mutate(document)
    candidate = _write(tmp_path / f"{mutate.__name__}.yaml", document)
    changes = diff_specs(current, candidate)
    assert sorted(rows(changes)) == sorted(expected)
    assert verdict(changes) is (Severity.BREAKING if any(r[1] == B for r in expected) else Severity.COMPATIBLE)
    for change in changes:
        assert change.summary.startswith(f"{change.operation} {change.location}: ")
        assert change.recommendation


def test_widened_enum_is_compatible_and_narrowed_enum_breaks(current: Contract, tmp_path: Path) -> None:
    base = copy.deepcopy(current.document)
    add_enum(base)
    old = _write(tmp_path / "base.yaml", base)
    wider = copy.deepcopy(base)
    schema(wider, "APIKeyValidation")["properties"]["required_scope"]["anyOf"][0]["enum"].append("admin")
    narrower = copy.deepcopy(base)
    schema(narrower, "APIKeyValidation")["properties"]["required_scope"]["anyOf"][0]["enum"] = ["read"]
    pointer = f"{S}/APIKeyValidation/properties/required_scope/anyOf/0/enum"
    assert rows(diff_specs(old, _write(tmp_path / "wider.yaml", wider))) == [
        ("enum_widened", C, V_OP, "body.required_scope", pointer, pointer)]
    assert rows(diff_specs(old, _write(tmp_path / "narrower.yaml", narrower))) == [
        ("enum_narrowed", B, V_OP, "body.required_scope", pointer, pointer)]


def test_relaxed_key_with_optional_header_is_no_move(current: Contract, tmp_path: Path) -> None:
    """Both places still accept the key: a consumer sending it in the body keeps working."""
    document = copy.deepcopy(current.document)
    key_to_header_parameter(document)
    op(document, "/api/v1/keys/validate")["parameters"][0]["required"] = False
    changes = diff_specs(current, _write(tmp_path / "both.yaml", document))
    assert sorted(c.kind.value for c in changes) == ["parameter_added_optional", "requirement_relaxed"]
    assert verdict(changes) is Severity.COMPATIBLE


def test_unrelated_removal_and_security_stay_apart(current: Contract, tmp_path: Path) -> None:
    document = copy.deepcopy(current.document)
    remove_request_field(document)
    add_security(document)
    changes = diff_specs(current, _write(tmp_path / "apart.yaml", document))
    assert sorted(c.kind.value for c in changes) == ["request_field_removed", "security_changed"]


# -- unusable input --------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "text", "problem"), [
    ("broken.yaml", "openapi: 3.1.0\npaths: [unclosed\n", "not valid YAML"),
    ("list.yaml", "- just\n- a list\n", "not an OpenAPI document"),
    ("other.yaml", "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n", "not an OpenAPI document"),
    ("bad.json", '{"openapi": "3.1.0",', "not valid JSON"),
    ("invalid.yaml", "openapi: 3.1.0\ninfo: {title: t}\npaths: {}\n", "not a valid OpenAPI"),
])
def test_unusable_candidate_raises_contract_error(tmp_path: Path, name: str, text: str, problem: str) -> None:
    candidate = tmp_path / name
    candidate.write_text(text)
    with pytest.raises(ContractError) as caught:
        diff_files(CURRENT, candidate, ROOT)  # ROOT: the current contract's load is cached across cases
    assert problem in str(caught.value) and caught.value.file.endswith(name)
    assert caught.value.exit_code == 2


def test_missing_candidate_raises_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read"):
        diff_files(CURRENT, tmp_path / "nope.yaml", ROOT)


def test_whole_body_replaced_by_a_header_is_a_move(current: Contract, tmp_path: Path) -> None:
    document = copy.deepcopy(current.document)
    del op(document, "/api/v1/keys/validate")["requestBody"]
    add_security(document)
    changes = diff_specs(current, _write(tmp_path / "no-body.yaml", document))
    assert rows(changes) == [("field_moved", B, V_OP, "body", f"{VALIDATE}/requestBody", f"{VALIDATE}/security")]
