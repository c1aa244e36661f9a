"""Loading contract files: lines of JSON pointers, operations, routing, and helpful errors."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from hokusai_contracts._errors import (
    ContractError,
    HokusaiContractsError,
    SafetyError,
    StackError,
    UsageError,
)
from hokusai_contracts.contracts.loading import Contract

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path("/work/shared/reference/auth-service-openapi.v1.0.0.json")
AUTH_CONTRACTS = [p for p in (ROOT / "contracts" / "auth-service.yaml", REFERENCE) if p.exists()]

MLFLOWISH = """\
openapi: 3.0.3
info: {title: proxy, version: "1"}
servers:
  - url: https://registry.example/api/mlflow
paths:
  /api/2.0/mlflow/runs/create:
    post:
      responses:
        200: {description: ok}
  /api/2.0/mlflow-artifacts/artifacts/{path}:
    parameters:
      - {name: path, in: path, required: true, schema: {type: string}}
    put:
      responses:
        '200': {description: ok}
  /api/2.0/mlflow/experiments/{experiment_id}:
    get:
      parameters:
        - {name: experiment_id, in: path, required: true, schema: {type: string}}
      responses:
        '200': {description: ok}
  /a~b/{id}/x:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [when]
                properties:
                  when: {type: string, example: 2024-01-01}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(params=AUTH_CONTRACTS, ids=lambda p: p.name)
def auth(request: pytest.FixtureRequest) -> Contract:
    if not AUTH_CONTRACTS:
        pytest.skip("no auth contract available")
    return Contract.load(request.param, root=ROOT)


@pytest.fixture
def mlflowish(tmp_path: Path) -> Contract:
    return Contract.load(write(tmp_path, "mlflow.yaml", MLFLOWISH), root=tmp_path)


def test_auth_contract_loads_with_its_operations(auth: Contract) -> None:
    assert auth.document["openapi"].startswith("3.1")
    labels = {op.label for op in auth.operations}
    assert {"POST /api/v1/keys/validate", "POST /api/v1/usage/{key_id}"} <= labels
    validate = auth.find_operation("POST", "/api/v1/keys/validate")
    assert validate is not None
    assert validate.pointer == "/paths/~1api~1v1~1keys~1validate/post"
    assert validate.operation_id == "validate_api_key_api_v1_keys_validate_post"
    assert not auth.display_path.startswith("/") or auth.path == REFERENCE


def test_display_path_is_relative_to_the_root(tmp_path: Path) -> None:
    path = write(tmp_path, "contracts/x.yaml".replace("/", "_"), MLFLOWISH)
    assert Contract.load(path, root=tmp_path).display_path == path.name
    assert Contract.load(path, root=tmp_path / "elsewhere").display_path == str(path)


def test_required_line_of_api_key_validation_matches_the_source(auth: Contract) -> None:
    lines = auth.path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, text in enumerate(lines)
                 if re.fullmatch(r'\s*"?APIKeyValidation"?\s*:\s*\{?\s*', text))
    required = next(i for i in range(start, len(lines))
                     if re.match(r'\s*"?required"?\s*:', lines[i]))
    assert auth.line_of("/components/schemas/APIKeyValidation/required") == required + 1
    ref = auth.ref("/components/schemas/APIKeyValidation/required")
    assert (ref.file, ref.line) == (auth.display_path, required + 1)


@pytest.mark.parametrize(
    ("pointer", "line"),
    [
        ("", 1),
        ("/servers/0", 4),
        ("/servers/0/url", 4),
        ("/paths/~1api~12.0~1mlflow~1runs~1create/post", 7),
        ("/paths/~1api~12.0~1mlflow~1runs~1create/post/responses/200", 9),
        ("/paths/~1a~0b~1{id}~1x", 22),
        ("/paths/~1a~0b~1{id}~1x/get/parameters/0", 25),
        ("/paths/~1a~0b~1{id}~1x/get/parameters/0/name", 25),
        ("/paths/~1a~0b~1{id}~1x/get/responses/200/content/application~1json/schema/required", 33),
        ("#/paths/~1a~0b~1{id}~1x/get/responses/200/content/application~1json/schema/required/0",
         33),
        ("/paths/~1nope", None),
    ],
)
def test_line_of_nested_pointers(mlflowish: Contract, pointer: str, line: int | None) -> None:
    assert mlflowish.line_of(pointer) == line


def test_line_of_in_json_files(tmp_path: Path) -> None:
    document = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
                "paths": {"/a/b": {"get": {"responses": {"200": {"description": "ok"}}}}}}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(document, indent="\t"), encoding="utf-8")  # tabs: YAML refuses them
    contract = Contract.load(path, root=tmp_path)
    assert contract.line_of("/paths/~1a~1b/get/responses/200/description") == 12
    assert contract.line_of("/info/version") == 5


def test_keys_and_dates_keep_their_text(mlflowish: Contract) -> None:
    # `200:` unquoted is an int to PyYAML, and 2024-01-01 a date; OpenAPI has neither.
    op = mlflowish.find_operation("POST", "/api/2.0/mlflow/runs/create")
    assert op is not None and list(op.spec["responses"]) == ["200"]
    schema = mlflowish.node("/paths/~1a~0b~1{id}~1x/get/responses/200/content/application~1json"
                            "/schema/properties/when")
    assert schema["example"] == "2024-01-01"


def test_ref_cites_the_parent_line_for_a_rule_not_written(mlflowish: Contract) -> None:
    ref = mlflowish.ref("/paths/~1api~12.0~1mlflow~1runs~1create/post/requestBody/required")
    assert ref.line == 7
    assert str(ref).startswith("mlflow.yaml:7#/paths/")


@pytest.mark.parametrize(
    ("method", "path", "template", "params"),
    [
        ("POST", "/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/create", {}),
        ("post", "/api/mlflow/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/create", {}),
        ("POST", "https://h/api/mlflow/api/2.0/mlflow/runs/create?x=1",
         "/api/2.0/mlflow/runs/create", {}),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.pkl",
         "/api/2.0/mlflow-artifacts/artifacts/{path}", {"path": "1/abc/artifacts/model/model.pkl"}),
        ("GET", "/api/2.0/mlflow/experiments/7", "/api/2.0/mlflow/experiments/{experiment_id}",
         {"experiment_id": "7"}),
        ("GET", "/api/2.0/mlflow/experiments/a%2Fb", "/api/2.0/mlflow/experiments/{experiment_id}",
         {"experiment_id": "a/b"}),
        # A decoded line break is the value's to judge (its pattern), on a path-like parameter too.
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b\nc", "/api/2.0/mlflow-artifacts/artifacts/{path}",
         {"path": "a/b\nc"}),
        ("GET", "/api/2.0/mlflow/experiments/7/8", None, None),  # only path-like names span "/"
        ("GET", "/api/2.0/mlflow/runs/create", None, None),
        ("POST", "/ajax-api/2.0/mlflow/runs/create", None, None),
    ],
)
def test_match(mlflowish: Contract, method: str, path: str, template: str | None,
               params: dict[str, str] | None) -> None:
    found = mlflowish.match(method, path)
    if template is None:
        assert found is None
    else:
        assert found is not None
        assert (found.operation.path_template, found.path_params) == (template, params)


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/api/v1/keys/validate", "/api/v1/keys/validate"),
        ("POST", "/auth/api/v1/keys/validate", "/api/v1/keys/validate"),
        ("GET", "/api/v1/usage/aggregate", "/api/v1/usage/aggregate"),  # literal beats {key_id}
        ("GET", "/api/v1/usage/k1/stats", "/api/v1/usage/{key_id}/stats"),
        ("GET", "/auth/health", "/auth/health"),  # a declared path beats the stripped prefix
        ("GET", "/api/v1/keys/validate", "/api/v1/keys/{key_id}"),  # the id "validate"
        ("PUT", "/api/v1/keys/validate", None),
    ],
)
def test_find_operation_in_the_auth_contract(auth: Contract, method: str, path: str,
                                             template: str | None) -> None:
    found = auth.find_operation(method, path)
    assert (found.path_template if found else None) == template


def test_allowed_methods_and_closest_path(auth: Contract) -> None:
    assert auth.allowed_methods("/api/v1/keys/k1") == ["DELETE", "GET"]
    assert auth.closest_path("/api/v1/key/validate") == "/api/v1/keys/validate"
    assert auth.closest_path("/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz") is None


def test_loads_are_cached_per_mtime(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", MLFLOWISH)
    first = Contract.load(path, root=tmp_path)
    assert Contract.load(path, root=tmp_path) is first
    path.write_text(MLFLOWISH.replace("title: proxy", "title: changed"), encoding="utf-8")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000_000))
    second = Contract.load(path, root=tmp_path)
    assert second is not first and second.document["info"]["title"] == "changed"


BAD_CONTRACTS = [
    ("not-yaml.yaml", "openapi: 3.0.3\ninfo:\n  title: a: b\n", 3,
     "not valid YAML (mapping values are not allowed here)"),
    ("not-json.json", '{\n  "openapi": "3.0.3",\n  "info": {,}\n}\n', 3, "not valid JSON"),
    ("list.yaml", "- 1\n- 2\n", 1, "not an OpenAPI document (no top-level `openapi` key)"),
    ("swagger.yaml", "swagger: '2.0'\ninfo: {title: t, version: '1'}\n", 1,
     "not an OpenAPI document"),
    ("v2.yaml", "info: {title: t, version: '1'}\nopenapi: 2.0.0\npaths: {}\n", 2,
     "OpenAPI version '2.0.0' is not supported"),
    ("no-info.yaml", "openapi: 3.0.3\npaths: {}\n", 1, "not a valid OpenAPI 3.0.3 document"),
    ("bad-op.yaml", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n"
     "    get:\n      parameters: 5\n      responses: {}\n", 6, "not a valid OpenAPI 3.0.3"),
    ("dangling.yaml", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
     "components:\n  schemas:\n    Key: {type: string}\n    Body:\n      properties:\n"
     "        key:\n          $ref: '#/components/schemas/Kye'\n", 10,
     "$ref '#/components/schemas/Kye' points at nothing: no 'Kye' there"),
    ("external.yaml", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
     "components:\n  schemas:\n    A:\n      $ref: 'other.yaml#/A'\n", 7,
     "points outside this file"),
    ("objekt.yaml", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
     "components:\n  schemas:\n    A:\n      properties:\n        x:\n          type: objekt\n",
     9, "invalid schema at /components/schemas/A/properties/x/type"),
]


@pytest.mark.parametrize(("name", "text", "line", "problem"), BAD_CONTRACTS,
                         ids=[case[0] for case in BAD_CONTRACTS])
def test_bad_contracts_name_file_line_and_problem(tmp_path: Path, name: str, text: str,
                                                  line: int, problem: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        Contract.load(path, root=tmp_path)
    error = caught.value
    assert (error.file, error.line) == (name, line)
    assert problem in error.problem
    assert str(error).startswith(f"{name}:{line}: ")
    assert error.hint and error.exit_code == 2


def test_dangling_ref_suggests_the_near_name(tmp_path: Path) -> None:
    name, text, _, _ = next(case for case in BAD_CONTRACTS if case[0] == "dangling.yaml")
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ContractError, match="Did you mean 'Key'"):
        Contract.load(tmp_path / name, root=tmp_path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"^missing\.yaml: cannot read the contract"):
        Contract.load(tmp_path / "missing.yaml", root=tmp_path)


def test_error_tree() -> None:
    assert issubclass(ContractError, UsageError)
    for cls in (UsageError, StackError, SafetyError):
        assert issubclass(cls, HokusaiContractsError) and cls.exit_code == 2
    error = ContractError("contracts/x.yaml", "not valid YAML (bad)", line=12,
                          hint="Fix the syntax or point SPEC at an OpenAPI 3.0/3.1 document.")
    assert str(error) == ("contracts/x.yaml:12: not valid YAML (bad). Fix the syntax or point "
                          "SPEC at an OpenAPI 3.0/3.1 document.")
