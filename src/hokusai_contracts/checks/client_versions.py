"""The registration scenario once per MLflow client version (``MLFLOW_CLIENTS``), each in its own environment.

Each client runs the registration's steps (``registration.steps``, the library the in-process
scenario runs) with its environment's interpreter, isolated, the API key in ``MLFLOW_TRACKING_TOKEN``
only. That environment has no hokusai_contracts: the steps go there as a bundle, a temporary
directory holding copies of exactly the modules they import from us (``BUNDLED_MODULES``, read
with importlib.resources) at their own dotted paths, run as ``python -I BUNDLE``. The client's
JSON lines (``registration.client``) become a ``ScenarioResult`` (the type the in-process scenario
returns) and then check records named ``mlflow-<client version>:<model>:<step>``
(``mlflow-2.9.2:logistic:register``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hokusai_contracts.checks.scenario import ModelKind, ScenarioResult, StepResult, probe_name, scenario_checks
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.report.phase import Check
from hokusai_contracts.stack.mlflow_env import MlflowEnvironment

__all__ = ["BUNDLED_MODULES", "ClientRun", "ClientStep", "client_checks", "run_client_scenario", "write_bundle"]

#: What the registration needs of hokusai_contracts in a client environment, and nothing more: the
#: steps, the client printing them as JSON lines, and the one module of ours they import.
BUNDLED_MODULES = ("hokusai_contracts.domain.redact", "hokusai_contracts.checks.registration.steps",
                   "hokusai_contracts.checks.registration.client")
_ENTRY = ("hokusai_contracts.checks.registration", "__main__.py")
_TIMEOUT_S = 600.0


def write_bundle(directory: Path) -> Path:
    """The registration for a client environment, in ``directory``: run it as ``python -I directory``."""
    for module in BUNDLED_MODULES:
        package, _, name = module.rpartition(".")
        target = directory.joinpath(*module.split(".")).with_suffix(".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(resources.files(package).joinpath(f"{name}.py").read_text("utf-8"), "utf-8")
        # The packages' own __init__ modules import what a client environment lacks (pydantic,
        # httpx): the bundle's are empty, so that only the modules above are ever imported there.
        for depth in range(1, module.count(".") + 1):
            directory.joinpath(*module.split(".")[:depth], "__init__.py").touch()
    # A directory with a __main__.py is what ``python -I`` runs with that directory on sys.path.
    entry = resources.files(_ENTRY[0]).joinpath(_ENTRY[1]).read_text("utf-8")
    directory.joinpath("__main__.py").write_text(entry, "utf-8")
    return directory


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
    arguments = ["--tracking-uri", tracking_uri, "--model", model_kind.value, "--name", name]
    if health_url:
        arguments += ["--health-url", health_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HOKUSAI_"))}
    env.update({"MLFLOW_TRACKING_TOKEN": api_key, "PYTHONUNBUFFERED": "1"})
    run = ClientRun(environment.version, ScenarioResult(model_kind))
    started = time.perf_counter()
    code: int | None = None
    with tempfile.TemporaryDirectory(prefix="hokusai-registration-") as bundle:
        argv = [str(environment.python), "-I", str(write_bundle(Path(bundle))), *arguments]
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
