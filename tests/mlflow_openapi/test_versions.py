"""The generator inside another MLflow's environment: what it may import, what it records it could not map."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import hokusai_mlflow_openapi
from hokusai_mlflow_openapi.foreign import build_in
from hokusai_mlflow_openapi.json_encoding import _is_repeated, _named_fields
from hokusai_mlflow_openapi.protos import OPERATIONS, build_mlflow_openapi, find_operations

PACKAGE = Path(hokusai_mlflow_openapi.__file__).resolve().parent
# What runs inside another version's environment may import: the standard library, protobuf, mlflow,
# PyYAML (an MLflow dependency) and the package itself. The validator is imported by generate.py
# only, which runs in the project's environment.
ALLOWED = {"google", "mlflow", "yaml", "hokusai_mlflow_openapi"}
PARENT_ONLY = {"generate.py": {"openapi_spec_validator"}}


def imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("source", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_the_generator_imports_only_the_stdlib_protobuf_mlflow_and_yaml(source: Path) -> None:
    foreign = imported_roots(source) - set(sys.stdlib_module_names) - ALLOWED - PARENT_ONLY.get(source.name, set())
    assert foreign == set(), f"{source.name} imports {sorted(foreign)}: another MLflow's environment lacks them"


def test_emitting_in_an_isolated_interpreter_gives_the_same_document() -> None:
    document, version = build_in(Path(sys.executable))
    assert version == build_mlflow_openapi()["info"]["version"]
    assert document == build_mlflow_openapi(strict=False)


def test_a_broken_interpreter_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot run the generator with"):
        build_in(tmp_path / "no-python")


def test_operations_a_version_lacks_are_listed_not_fatal() -> None:
    selection = (*OPERATIONS[:2], ("POST", "/api/2.0/mlflow/not-an-rpc"))
    found, missing = find_operations(selection)
    assert len(found) == 2 and missing == ["POST /api/2.0/mlflow/not-an-rpc"]
    with pytest.raises(LookupError, match="declares no RPC for: POST /api/2.0/mlflow/not-an-rpc"):
        build_mlflow_openapi(selection)
    document = build_mlflow_openapi(selection, strict=False)
    assert "/api/2.0/mlflow/not-an-rpc" not in document["paths"]
    assert document["x-mlflow-unmapped"] == ["POST /api/2.0/mlflow/not-an-rpc: this MLflow declares no RPC for it"]


def test_the_pinned_contract_maps_everything() -> None:
    assert "x-mlflow-unmapped" not in build_mlflow_openapi()


def test_repeated_fields_are_recognised_on_protobuf_4_too() -> None:
    label_only: Any = SimpleNamespace(label=3)  # FieldDescriptor.LABEL_REPEATED, no is_repeated (protobuf 4)
    assert _is_repeated(label_only) and not _is_repeated(SimpleNamespace(label=1))
    assert _is_repeated(SimpleNamespace(is_repeated=True))


def test_whole_message_rules_name_their_fields() -> None:
    rule = {"anyOf": [{"required": ["run_id"]}, {"required": ["run_uuid"], "properties": {"run_uuid": {}}}],
            "allOf": [{"if": {"required": ["dataset_name"]}, "then": {"required": ["dataset_digest"]}}]}
    assert _named_fields(rule) == {"run_id", "run_uuid", "dataset_name", "dataset_digest"}
