"""The registration in other clients' environments: what the bundle holds, how the steps adapt to a client
version, how its lines are read."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts.checks.client_versions import BUNDLED_MODULES, ClientRun, _read, client_checks, write_bundle
from hokusai_contracts.checks.registration import client, steps
from hokusai_contracts.checks.scenario import ModelKind, ScenarioResult
from hokusai_contracts.report.model import CheckStatus

KEY = "hk_live_" + "Ab3" * 10 + "Zz"


def _imports(nodes: list[ast.AST]) -> set[str]:
    names = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.module}


@pytest.mark.parametrize("module", BUNDLED_MODULES)
def test_the_bundle_imports_only_the_stdlib_and_itself_at_the_top_and_mlflow_inside(module: str) -> None:
    # What a client environment has: the standard library, mlflow and what mlflow brings. What it
    # lacks of ours must be in the bundle, or the client dies on import.
    tree = ast.parse(_source(module))
    ours = {name for name in _imports(list(ast.walk(tree))) if name.startswith("hokusai_contracts")}
    assert ours <= set(BUNDLED_MODULES)
    top = {name.split(".")[0] for name in _imports(tree.body) - ours}
    assert top <= set(sys.stdlib_module_names) | {"__future__"}
    inside = {name.split(".")[0] for name in _imports(list(ast.walk(tree))) - ours}
    assert inside - set(sys.stdlib_module_names) <= {"mlflow", "sklearn", "requests"}


def _source(module: str) -> str:
    return Path(importlib.import_module(module).__file__ or "").read_text("utf-8")


def test_the_bundle_holds_the_modules_at_their_own_paths_and_empty_packages(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path)
    assert (bundle / "hokusai_contracts" / "checks" / "registration" / "steps.py").read_text("utf-8") == \
        Path(steps.__file__).read_text("utf-8")
    assert (bundle / "hokusai_contracts" / "__init__.py").read_text("utf-8") == ""
    assert "client import main" in (bundle / "__main__.py").read_text("utf-8")


def log_model_2x(sk_model: Any, artifact_path: str | None = None, signature: Any = None) -> None: ...


def log_model_3x(sk_model: Any, artifact_path: str | None = None, name: str | None = None,
                 skops_trusted_types: list[str] | None = None) -> None: ...


@pytest.mark.parametrize(("log_model", "expected"), [
    (log_model_2x, {"artifact_path": "model"}),
    (log_model_3x, {"name": "model", "skops_trusted_types": ["sklearn.tree._tree.Tree"]}),
])
def test_log_model_is_called_as_the_clients_version_wants(log_model: Callable[..., Any],
                                                          expected: dict[str, Any]) -> None:
    assert steps.log_model_arguments(log_model, "random_forest") == expected


def test_a_failed_call_gives_its_status_and_error_code_with_the_key_masked() -> None:
    class MlflowException(Exception):
        error_code = "ENDPOINT_NOT_FOUND"

    exc = MlflowException(f"API request to endpoint /api/2.0/mlflow/logged-models failed with error code 404 != 200."
                          f" Response body: 'Bearer {KEY}'\nmore")
    failure = client.failure_of(exc, KEY)
    assert failure["status"] == 404 and failure["error_code"] == "ENDPOINT_NOT_FOUND"
    assert KEY not in failure["detail"] and "hk_live_Ab...b3Zz" in failure["detail"] and "more" not in failure["detail"]


def test_lines_become_steps_and_other_output_is_ignored() -> None:
    run = ClientRun("2.9.2", ScenarioResult(ModelKind.LOGISTIC))
    stdout = "\n".join([
        "2026/12/01 INFO mlflow: something the client printed",
        json.dumps({"client": {"mlflow": "2.9.2", "sklearn": "1.9.1", "python": "3.11.7"}}),
        json.dumps({"step": {"name": "connect", "ok": True, "seconds": 0.2, "detail": "MLflow client connected!"}}),
        "[1, 2]",
        json.dumps({"step": {"name": "log_model", "ok": False, "seconds": 0.1, "status": 404,
                             "error_code": "ENDPOINT_NOT_FOUND", "detail": f"failed for {KEY}"}}),
    ])
    said: list[str] = []
    _read(run, stdout, KEY, said.append)
    assert run.client["mlflow"] == "2.9.2"
    assert [(s.name, s.ok) for s in run.result.steps] == [("connect", True), ("log_model", False)]
    assert run.failure is not None and (run.failure.name, run.failure.status) == ("log_model", 404)
    assert all(KEY not in line for line in [*said, *(s.detail for s in run.result.steps)])
    checks = client_checks(run)
    assert [c.name for c in checks] == ["mlflow-2.9.2:logistic:connect", "mlflow-2.9.2:logistic:log_model"]
    assert [c.status for c in checks] == [CheckStatus.PASSED, CheckStatus.FAILED]


@pytest.mark.slow
def test_the_bundle_runs_isolated_with_the_key_from_the_environment_only(tmp_path: Path) -> None:
    # Nobody listens on port 1: connecting fails, after the key was checked, in a few seconds. The
    # bundle's own packages come first on sys.path: it runs with nothing else of ours, as in a client's.
    bundle = str(write_bundle(tmp_path / "bundle"))
    done = subprocess.run([sys.executable, "-I", bundle, "--tracking-uri", "http://127.0.0.1:1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"MLFLOW_TRACKING_TOKEN": KEY, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    steps = [r["step"] for r in records if "step" in r]
    assert done.returncode == 1
    assert [(s["name"], s["ok"]) for s in steps] == [("api_key", True), ("proxy", True), ("connect", False)]
    assert KEY not in done.stdout + done.stderr
    missing = subprocess.run([sys.executable, "-I", bundle, "--tracking-uri", "http://127.0.0.1:1"],
                             capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "MLFLOW_TRACKING_TOKEN" in missing.stderr
