"""The standalone client scenario: what it imports, how it adapts to a client version, how its lines are read."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts.checks import registration_client as script
from hokusai_contracts.checks.client_versions import CLIENT_SCRIPT, ClientRun, _read, client_checks
from hokusai_contracts.checks.scenario import ModelKind, ScenarioResult
from hokusai_contracts.report.model import CheckStatus

KEY = "hk_live_" + "Ab3" * 10 + "Zz"


def test_the_script_imports_only_the_stdlib_at_the_top_and_mlflow_and_sklearn_inside() -> None:
    tree = ast.parse(CLIENT_SCRIPT.read_text("utf-8"))
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert top - set(sys.stdlib_module_names) == set()
    everything = list(ast.walk(tree))
    inside = {alias.name.split(".")[0] for node in everything if isinstance(node, ast.Import) for alias in node.names}
    inside |= {node.module.split(".")[0] for node in everything if isinstance(node, ast.ImportFrom) and node.module}
    assert inside - set(sys.stdlib_module_names) == {"mlflow", "sklearn"}


def log_model_2x(sk_model: Any, artifact_path: str | None = None, signature: Any = None) -> None: ...


def log_model_3x(sk_model: Any, artifact_path: str | None = None, name: str | None = None,
                 skops_trusted_types: list[str] | None = None) -> None: ...


@pytest.mark.parametrize(("log_model", "expected"), [
    (log_model_2x, {"artifact_path": "model"}),
    (log_model_3x, {"name": "model", "skops_trusted_types": ["sklearn.tree._tree.Tree"]}),
])
def test_log_model_is_called_as_the_clients_version_wants(log_model: Callable[..., Any],
                                                          expected: dict[str, Any]) -> None:
    assert script.log_model_arguments(log_model, "random_forest") == expected


def test_a_failed_call_gives_its_status_and_error_code_with_the_key_masked() -> None:
    class MlflowException(Exception):
        error_code = "ENDPOINT_NOT_FOUND"

    exc = MlflowException(f"API request to endpoint /api/2.0/mlflow/logged-models failed with error code 404 != 200."
                          f" Response body: 'Bearer {KEY}'\nmore")
    failure = script.failure_of(exc, KEY)
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
def test_the_script_runs_isolated_with_the_key_from_the_environment_only(tmp_path: Path) -> None:
    # Nobody listens on port 1: connecting fails, after the key was checked, in a few seconds.
    done = subprocess.run([sys.executable, "-I", str(CLIENT_SCRIPT), "--tracking-uri", "http://127.0.0.1:1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"MLFLOW_TRACKING_TOKEN": KEY, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    steps = [r["step"] for r in records if "step" in r]
    assert done.returncode == 1
    assert [(s["name"], s["ok"]) for s in steps] == [("api_key", True), ("proxy", True), ("connect", False)]
    assert KEY not in done.stdout + done.stderr
    missing = subprocess.run([sys.executable, "-I", str(CLIENT_SCRIPT), "--tracking-uri", "http://127.0.0.1:1"],
                             capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "MLFLOW_TRACKING_TOKEN" in missing.stderr
