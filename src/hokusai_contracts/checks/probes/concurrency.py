"""Concurrent registrations: eight developers register versions of one model at the same time.

Each registration is its own process with the real MLflow client, as it would be for eight
developers (``python -m hokusai_contracts.checks.scenario``, the key in its environment).
Afterwards every version 1..N must exist exactly once, each pointing at its own run;
and the auth service's own counter says how many validate calls the proxy's cache let through.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from hokusai_contracts.checks import scenario
from hokusai_contracts.checks.scenario import probe_name
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.stack.processes import StackEndpoints

__all__ = ["run_concurrency"]

SUITE = Suite.CONCURRENCY


def _validate_calls(auth_url: str) -> int | None:
    try:
        return int(httpx.get(auth_url + "/metrics", timeout=10).json()["validate_calls"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def run_concurrency(endpoints: StackEndpoints, registrations: int = 8,
                    mlflow_requires_key: bool = False) -> PhaseResult:
    """``mlflow_requires_key``: MLflow's contract requires a key (a gateway), so the direct read carries it."""
    model = probe_name("contract-probe-concurrent")
    before = _validate_calls(endpoints.auth_url)
    started = time.perf_counter()
    env = {**os.environ, "MLFLOW_TRACKING_TOKEN": endpoints.api_key}
    processes = [
        subprocess.Popen([sys.executable, "-m", scenario.__name__, endpoints.proxy_url, model], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(registrations)
    ]
    codes = [p.wait(timeout=600) for p in processes]
    seconds = time.perf_counter() - started
    after = _validate_calls(endpoints.auth_url)

    problems = []
    try:
        answer = httpx.get(endpoints.mlflow_url + "/api/2.0/mlflow/model-versions/search",
                           params={"filter": f"name='{model}'", "max_results": 1000}, timeout=30,
                           headers={"Authorization": f"Bearer {endpoints.api_key}"} if mlflow_requires_key else None,
                           ).json()
        listed = answer.get("model_versions", []) if isinstance(answer, dict) else []
    except (httpx.HTTPError, ValueError) as exc:
        listed = []
        problems.append(f"MLflow did not list the versions ({type(exc).__name__})")
    versions = sorted(int(v["version"]) for v in listed)
    runs = [v.get("run_id") for v in listed]
    expected = list(range(1, registrations + 1))
    if any(codes):
        problems.append(f"{sum(1 for c in codes if c)} of {registrations} registrations failed")
    if versions != expected:
        problems.append(f"versions {versions}, expected {expected}")
    if len(set(runs)) != len(runs):
        problems.append("two versions point at the same run")
    metrics = {"concurrent_registrations": float(registrations), "concurrency_seconds": round(seconds, 3)}
    validate_note = ""
    if before is not None and after is not None:
        metrics["validate_calls_reaching_auth"] = float(after - before)
        validate_note = f"; {after - before} validate calls reached the auth service"
    finding = None
    if problems:
        finding = Finding(
            hop=Hop.CLIENT_TO_PROXY, operation="POST /api/2.0/mlflow/model-versions/create",
            kind=FindingKind.SCENARIO_STEP, location="versions", suite=SUITE,
            expected=f"versions {expected}, each of its own run", observed="; ".join(problems),
            recommendation="Forward concurrent calls independently: no shared request state, no dropped bodies.",
        )
    check = Check(
        suite=SUITE, name=f"{registrations} registrations at once", cases=registrations, seconds=round(seconds, 3),
        status=CheckStatus.PASSED, findings=[finding] if finding else [],
        message=(finding.observed if finding else f"versions 1..{registrations} registered") + validate_note,
    )
    return PhaseResult(checks=[check], metrics=metrics, timings={PhaseName.CONCURRENCY: check.seconds})
