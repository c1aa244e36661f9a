"""The registration scenario once per MLflow client version (``MLFLOW_CLIENTS``), each in its own environment.

Each client runs ``registration_client.py`` with its environment's interpreter, isolated, the API
key in ``MLFLOW_TRACKING_TOKEN`` only; its JSON lines become a ``ScenarioResult`` (the type the
in-process scenario returns) and then check records named ``mlflow-<client version>:<model>:<step>``
(``mlflow-2.9.2:logistic:register``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_contracts.checks.scenario import ModelKind, ScenarioResult, StepResult, probe_name, scenario_checks
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.report.phase import Check
from hokusai_contracts.stack.mlflow_env import MlflowEnvironment

__all__ = ["CLIENT_SCRIPT", "ClientRun", "ClientStep", "client_checks", "run_client_scenario"]

CLIENT_SCRIPT = Path(__file__).with_name("registration_client.py")
_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ClientStep:
    """A failed step's call, as the client reported it."""

    name: str
    status: int | None
    error_code: str | None


@dataclass
class ClientRun:
    """One client version's scenario: its steps, what it ran with, and how a failure looked on the wire."""

    version: str
    result: ScenarioResult
    #: What the client reported running with: mlflow, sklearn and python versions.
    client: dict[str, str] = field(default_factory=dict)
    failure: ClientStep | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result.ok


def run_client_scenario(environment: MlflowEnvironment, tracking_uri: str, api_key: str, *,
                        model_kind: ModelKind = ModelKind.LOGISTIC, health_url: str | None = None,
                        name: str | None = None, out: Callable[[str], None] = print) -> ClientRun:
    """Register one model with ``environment``'s MLflow client; never raises for a failed step."""
    name = name or probe_name(f"contract-probe-mlflow{environment.version.replace('.', '')}")
    argv = [str(environment.python), "-I", str(CLIENT_SCRIPT), "--tracking-uri", tracking_uri,
            "--model", model_kind.value, "--name", name]
    if health_url:
        argv += ["--health-url", health_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HOKUSAI_"))}
    env.update({"MLFLOW_TRACKING_TOKEN": api_key, "PYTHONUNBUFFERED": "1"})
    run = ClientRun(environment.version, ScenarioResult(model_kind))
    started = time.perf_counter()
    code: int | None = None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=_TIMEOUT_S, check=False)
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = f"the client did not finish within {_TIMEOUT_S:.0f} s"
    run.seconds = time.perf_counter() - started
    _read(run, stdout, api_key, out)
    if (code != 0 and run.result.ok) or not run.result.steps:
        # It died before or between steps (an import error, a crash, a timeout): its last words say why.
        last = (redact(stderr, [api_key]).strip().splitlines() or ["no output"])[-1][:500]
        run.result.steps.append(StepResult("client", False, f"the MLflow {environment.version} client stopped: "
                                                              f"{last}", 0.0))
        out(f"❌ FAILED: the MLflow {environment.version} client stopped: {last}")
    return run


def _read(run: ClientRun, stdout: str, api_key: str, out: Callable[[str], None]) -> None:
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # MLflow's own output
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("client"), dict):
            run.client = {str(k): str(v) for k, v in record["client"].items()}
        step = record.get("step")
        if not isinstance(step, dict):
            continue
        detail = redact(str(step.get("detail", "")), [api_key])
        result = StepResult(str(step.get("name")), bool(step.get("ok")), detail, float(step.get("seconds", 0.0)))
        run.result.steps.append(result)
        if result.ok:
            out(f"✓ {detail}")
        else:
            status = step.get("status")
            run.failure = ClientStep(result.name, int(status) if isinstance(status, int) else None,
                                     str(step["error_code"]) if step.get("error_code") else None)
            out(f"❌ FAILED at step '{result.name}': {detail}")


def client_checks(run: ClientRun) -> list[Check]:
    """One check per step, named ``mlflow-<client version>:<model>:<step>``."""
    checks = scenario_checks(run.result)
    for check in checks:
        check.name = f"mlflow-{run.version}:{check.name}"
    return checks
