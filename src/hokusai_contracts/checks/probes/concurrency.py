"""Concurrent registrations: eight developers register versions of one model at the same time.

Each registration is its own process with the real MLflow client, as it would be for eight
developers (``python -m hokusai_contracts.checks.scenario``, the key in its environment).
Afterwards every version 1..N must exist exactly once, each pointing at its own run;
and the auth service's own counter says how many validate calls the proxy's cache let through.
A finding cites the proxy contract's create operation and keeps the listing that shows the versions
(its exchange, so the report gives a curl that lists them again).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from hokusai_contracts.checks import scenario
from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.checks.scenario import probe_name
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.stack.processes import StackEndpoints

__all__ = ["judge_versions", "run_concurrency"]

SUITE = Suite.CONCURRENCY
CREATE = "POST /api/2.0/mlflow/model-versions/create"


def _validate_calls(auth_url: str) -> int | None:
    try:
        return int(httpx.get(auth_url + "/metrics", timeout=10).json()["validate_calls"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _listed(result: ProbeResult) -> list[dict[str, object]] | None:
    """The versions MLflow lists, or None when it did not answer with a listing."""
    try:
        answer = result.response.json() if result.response is not None and result.status == 200 else None
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    versions = answer.get("model_versions", [])
    return [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else None


def judge_versions(mlflow_url: str, model: str, codes: list[int], contract: Contract) -> Finding | None:
    """Versions 1..N of ``model``, each of its own run, after N registrations exited with ``codes``."""
    registrations = len(codes)
    listing = probe("GET", mlflow_url + "/api/2.0/mlflow/model-versions/search", timeout=30,
                    params={"filter": f"name='{model}'", "max_results": 1000})
    listed = _listed(listing)
    problems = []
    if listed is None:
        problems.append(f"MLflow did not list the versions ({listing.status or listing.error})")
        listed = []
    versions = sorted(int(str(v["version"])) for v in listed)
    runs = [v.get("run_id") for v in listed]
    expected = list(range(1, registrations + 1))
    if any(codes):
        problems.append(f"{sum(1 for c in codes if c)} of {registrations} registrations failed")
    if versions != expected:
        problems.append(f"versions {versions}, expected {expected}")
    if len(set(runs)) != len(runs):
        problems.append("two versions point at the same run")
    if not problems:
        return None
    match = contract.match("POST", "/api/2.0/mlflow/model-versions/create")
    return Finding(
        hop=Hop.CLIENT_TO_PROXY, operation=CREATE, kind=FindingKind.SCENARIO_STEP, location="versions", suite=SUITE,
        expected=f"versions {expected}, each of its own run", observed="; ".join(problems),
        contract=contract.ref(match.operation.pointer + "/responses/200") if match else None,
        # What shows the versions: MLflow's own listing of them.
        exchanges=[listing.exchange()],
        recommendation="Forward concurrent calls independently: no shared request state, no dropped bodies.",
    )


def run_concurrency(endpoints: StackEndpoints, registrations: int = 8, *, contract: Contract) -> PhaseResult:
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
    finding = judge_versions(endpoints.mlflow_url, model, codes, contract)
    metrics = {"concurrent_registrations": float(registrations), "concurrency_seconds": round(seconds, 3)}
    validate_note = ""
    if before is not None and after is not None:
        metrics["validate_calls_reaching_auth"] = float(after - before)
        validate_note = f"; {after - before} validate calls reached the auth service"
    check = Check(
        suite=SUITE, name=f"{registrations} registrations at once", cases=registrations, seconds=round(seconds, 3),
        status=CheckStatus.PASSED, findings=[finding] if finding else [],
        message=(finding.observed if finding else f"versions 1..{registrations} registered") + validate_note,
    )
    return PhaseResult(checks=[check], metrics=metrics, timings={PhaseName.CONCURRENCY: check.seconds})
