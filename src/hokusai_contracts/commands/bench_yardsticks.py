"""The two yardsticks ``make bench`` holds a run against, measured in the same bench run.

- **The floor**: what any registration costs at the least on this machine: MLflow started as the
  stack's plan starts it, until healthy, then one registration by the real MLflow client straight
  to MLflow (the scenario's own steps, as a child process: interpreter and imports count), no
  proxy, no fakes, no checks. ``ratio_to_floor`` is the default run's wall time over this.
- **Plain Schemathesis**: ``schemathesis run`` of the same contract and operations (the suites'
  ``EXCLUDED_PATH_REGEX`` left out), with the suite's own configuration
  (``checks.suites.schemas.schema_config``: budget, checks, coverage phase, fixed parameters), the
  phases the suite runs (no stateful phase: that is the stateful suite's, which has no plain
  equivalent) and ``continue-on-failure`` (the suite sends every generated case and records every
  failure; plain Schemathesis would stop an operation at its first failure and send fewer). On one
  fresh stack, each suite runs alone, ours (``run_pytest_suites``, the proxy's through a front
  journal as in a run, with its differential reads) and then plain: ``ratio_to_plain_schemathesis``
  is the one over the other, the same work in the same conditions, so it is the harness' own cost.

Both are measured, never assumed, so the ratios printed are of one bench run on one machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from hokusai_contracts._errors import StackError
from hokusai_contracts.checks import scenario
from hokusai_contracts.checks.suites.runner import SHARDS, SuiteOptions, run_local_suites
from hokusai_contracts.checks.suites.schemas import EXCLUDED_PATH_REGEX, TARGETS, schema_config
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.journal.front import front_journal
from hokusai_contracts.settings import ArtifactStore, BackendStore
from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.health import StackEndpoints, is_healthy
from hokusai_contracts.stack.plan import PartPlan, Site, build_plan
from hokusai_contracts.stack.processes import free_port, running_stack, terminate_group

__all__ = ["PLAIN_SUITES", "PlainRun", "measure_floor", "measure_floor_on_stores", "measure_plain_schemathesis",
           "plain_equivalent", "toml_of"]

#: The suites that have a plain ``schemathesis run`` equivalent (the stateful suite walks links).
PLAIN_SUITES = (Suite.AUTH_SERVICE, Suite.MLFLOW_DIRECT, Suite.PROXY)
_TOKEN_ENV = "HOKUSAI_BENCH_TOKEN"
_HEALTH_TIMEOUT_S = 120.0
#: The scenario's own registration steps, straight to MLflow (no proxy health route to ask), as a plain
#: registration runs them: MLflow infers the model's pip requirements (the scenario names them).
_FLOOR_REGISTRATION = (
    "import os, sys\n"
    f"from {scenario.__name__} import run_registration\n"
    "result = run_registration(sys.argv[1], os.environ['MLFLOW_TRACKING_TOKEN'], register_as=sys.argv[2],"
    " health_url=None, out=lambda line: None, infer_requirements=True)\n"
    "sys.exit(0 if result.ok else 1)\n"
)


def measure_floor() -> float:
    """Seconds from spawning MLflow to a finished plain registration against it."""
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    if mlflow is None:
        raise StackError("MLflow is not installed in this environment: run `make venv` first.")
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-floor-") as scratch:
        root = Path(scratch)
        host = "127.0.0.1"
        site = Site(python=sys.executable, mlflow=mlflow, bind_host=host,
                    ports={part: free_port(host) for part in Part}, hosts=dict.fromkeys(Part, host),
                    run_dir=str(root), seed_file="", unreachable_url="",
                    mlflow_stores=(f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts")))
        # The MLflow part exactly as the stack's plan runs it (flags, stores, environment).
        part = build_plan(StackDefinition(with_journals=False), site).parts[Part.MLFLOW]
        url = site.url(Part.MLFLOW)
        started = time.perf_counter()
        server = subprocess.Popen(part.argv, env={**os.environ, **part.env}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_healthy(url, part, server)
            # A made-up key of the real format: MLflow itself ignores it, the scenario wants one.
            token = "hk_live_" + secrets.token_hex(16)
            registered = subprocess.run([sys.executable, "-c", _FLOOR_REGISTRATION, url, scenario.probe_name("bench")],
                                        env={**os.environ, "MLFLOW_TRACKING_TOKEN": token},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
            seconds = time.perf_counter() - started
        finally:
            terminate_group(server, timeout=10)
    if registered.returncode != 0:
        raise StackError(f"the floor's plain registration failed (exit {registered.returncode}): "
                         f"{registered.stderr[-500:]}")
    return seconds


def measure_floor_on_stores(backend: BackendStore, artifacts: ArtifactStore) -> float:
    """The floor on other stores: the stack's start (its MLflow and stores the long pole) plus a plain
    registration straight to MLflow, so that a run on these stores is compared with its own floor."""
    definition = StackDefinition(with_journals=False, backend_store=backend, artifact_store=artifacts)
    started = time.perf_counter()
    with running_stack(definition) as stack:
        assert stack.endpoints is not None
        token = "hk_live_" + secrets.token_hex(16)
        registered = subprocess.run([sys.executable, "-c", _FLOOR_REGISTRATION, stack.endpoints.mlflow_url,
                                     scenario.probe_name("bench")], env={**os.environ, "MLFLOW_TRACKING_TOKEN": token},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
        seconds = time.perf_counter() - started
    if registered.returncode != 0:
        raise StackError(f"the floor's plain registration on {backend}+{artifacts} failed (exit "
                         f"{registered.returncode}): {registered.stderr[-500:]}")
    return seconds


@dataclass(frozen=True)
class PlainRun:
    """One suite's contract run both ways, alone on the same stack: ``seconds`` plain, ``ours_s`` ours."""

    suite: Suite
    seconds: float
    exit_code: int
    ours_s: float | None = None


def measure_plain_schemathesis(max_examples: int, contracts_dir: Path) -> dict[Suite, PlainRun]:
    """Each suite alone, ours then ``schemathesis run``, against one fresh stack."""
    with running_stack(StackDefinition()) as stack, tempfile.TemporaryDirectory(prefix="hokusai-bench-st-") as work:
        endpoints = stack.endpoints
        assert endpoints is not None and stack.root is not None
        runs = {}
        for suite in PLAIN_SUITES:
            ours = _ours_alone(suite, endpoints, Path(work) / f"ours-{suite}", contracts_dir, max_examples)
            runs[suite] = replace(_plain_alone(suite, endpoints, Path(work), contracts_dir, max_examples), ours_s=ours)
    return runs


def _ours_alone(suite: Suite, endpoints: StackEndpoints, workdir: Path, contracts_dir: Path,
                max_examples: int) -> float:
    workdir.mkdir(mode=0o700)
    with front_journal(endpoints.proxy_root, workdir / "client-journal.jsonl") as front:
        mount = endpoints.proxy_url.removeprefix(endpoints.proxy_root)
        client = replace(endpoints, proxy_root=front, proxy_url=front + mount)
        phase = run_local_suites(client, workdir, SuiteOptions([suite], max_examples), contracts_dir,
                                 contracts_dir.parent, out=lambda line: None)
    return phase.timings[f"{PhaseName.SUITES}.{suite}"]


def _plain_alone(suite: Suite, endpoints: StackEndpoints, work: Path, contracts_dir: Path,
                 max_examples: int) -> PlainRun:
    config_file = work / f"{suite.value}.toml"
    config_file.write_text(toml_of(_plain_config(suite, endpoints, max_examples)), "utf-8")
    token = endpoints.admin_token if suite is Suite.AUTH_SERVICE else endpoints.api_key
    started = time.perf_counter()
    # The token reaches Schemathesis through its config's ${...} and the environment, never argv.
    done = subprocess.run([str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config_file),
                           "run", str(contracts_dir / TARGETS[suite][1])],
                          # In the scratch directory: Schemathesis keeps a crash cache in its working
                          # directory and would replay an earlier bench's crashes first.
                          cwd=work, env={**os.environ, _TOKEN_ENV: token}, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=1800)
    return PlainRun(suite, round(time.perf_counter() - started, 3), done.returncode)


def _plain_config(suite: Suite, endpoints: StackEndpoints, max_examples: int) -> dict[str, Any]:
    placeholder = "${" + _TOKEN_ENV + "}"
    if suite is Suite.AUTH_SERVICE:
        config = schema_config(max_examples, endpoints.auth_url, bearer={"AuthServiceAuth": placeholder})
    elif suite is Suite.MLFLOW_DIRECT:
        config = schema_config(max_examples, endpoints.mlflow_url)
    else:
        # The proxy suite: positive cases with the seeded key (its differential reads are the suite's own cost).
        config = schema_config(max_examples, endpoints.proxy_url, positive_only=True)
        config["headers"] = {"Authorization": f"Bearer {placeholder}"}
    return plain_equivalent(config, workers=SHARDS.get(suite, 1))


def plain_equivalent(config: dict[str, Any], workers: int = 1) -> dict[str, Any]:
    """A suite's configuration as ``schemathesis run`` must have it to do the suite's work: every case
    sent (``continue-on-failure``), no stateful phase, the operations the suites leave out left out,
    as many workers as the suite has shards (processes)."""
    phases = {**config["phases"], "stateful": {"enabled": False}}
    return {**config, "phases": phases, "continue-on-failure": True, "workers": workers,
            "operations": [{"include-path-regex": EXCLUDED_PATH_REGEX, "enabled": False}]}


def toml_of(config: Mapping[str, Any]) -> str:
    """``config`` as TOML, every table inline (Schemathesis reads the same shape from TOML as from a dict)."""
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in config.items())


def _key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _wait_healthy(url: str, part: PartPlan, server: subprocess.Popen[bytes]) -> None:
    """Until MLflow passes the stack's own health rule for it (``stack.health.is_healthy``)."""
    deadline = time.monotonic() + _HEALTH_TIMEOUT_S
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise StackError(f"MLflow exited with {server.returncode} before it was healthy (bench floor)")
            if is_healthy(client, url, part):
                return
            time.sleep(0.05)
    raise StackError(f"MLflow was not healthy within {_HEALTH_TIMEOUT_S:.0f} s (bench floor)")
