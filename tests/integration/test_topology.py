"""Production's topology end to end: the gateway in front of MLflow, production's keys, credentials
judged by the receiver's contract (issue 25). Real processes: the fake auth service, MLflow, the
reference admin gateway, the reference proxy and their journals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = str(ROOT / "contracts" / "mlflow-gateway.overlay.yaml")
SEED = str(ROOT / "mocks" / "fake_auth" / "production-keys.yaml")
#: A lean run: the scenario, the credential probes and the hop journals.
LEAN = ["--suites", "none", "--no-faults"]


def _local(report_dir: Path, *args: str, **env: str) -> tuple[dict[str, Any], str]:
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(report_dir), *LEAN, *args],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "HOKUSAI_ARTIFACT_MB": "0", **env})
    output = completed.stdout + completed.stderr
    assert (report_dir / "contract-report.json").exists(), output[-3000:]
    return json.loads((report_dir / "contract-report.json").read_text()), output


def _unknown(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["hop"], f["kind"], f["location"]) for f in report["findings"] if not f["known"]}


def _gateway_env(**extra: str) -> dict[str, str]:
    """The production profile's MLflow side on the pinned MLflow (no 3.9.0 environment to build)."""
    return {"HOKUSAI_MLFLOW_GATEWAY": "1", "HOKUSAI_MLFLOW_PREFIX": "/mlflow", "HOKUSAI_MLFLOW_OVERLAY": OVERLAY,
            "HOKUSAI_SEED_FILE": SEED, **extra}


def test_the_production_profile_runs_end_to_end(tmp_path: Path) -> None:
    report, output = _local(tmp_path, "--profile", "production")
    targets = report["targets"]
    assert targets["profile"] == "production" and targets["mlflow_version"] == "3.9.0"
    assert targets["mlflow"] == "reference gateway + mlflow server"
    # MLflow 3.9.0 keeps its REST API at the root under a static prefix: the proxy is pointed there.
    assert targets["mlflow_prefix"].startswith("/mlflow (") and "REST API at the root" in targets["mlflow_prefix"]
    assert targets["mlflow_overlay"] == "contracts/mlflow-gateway.overlay.yaml"
    assert targets["seed"].endswith("production-keys.yaml")
    assert targets["backend_store"].startswith("postgresql 15") and targets["artifact_store"].endswith(", root")
    # What production's entrypoint hands its clients (an s3:// location), and nothing else unknown.
    assert {kind for _, kind, _ in _unknown(report)} == {"unreachable_artifact_location"}, output[-3000:]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["plain platform key (read)"]["status"] == "passed"
    assert "403" in checks["plain platform key (read)"]["message"]
    # The gateway's own validate calls were journaled and judged on a hop of their own.
    assert any(name.startswith("mlflow->auth (") and c["cases"] > 0 for name, c in checks.items())
    assert any(c["suite"] == "scenario" and c["status"] == "passed" for c in report["checks"])


def test_the_production_profile_with_proxied_artifacts_passes(tmp_path: Path) -> None:
    report, output = _local(tmp_path, "--profile", "production", "--mlflow-artifacts", "proxied")
    assert report["targets"]["artifact_store"].endswith(", proxied")
    assert _unknown(report) == set() and report["verdict"] == "pass", output[-3000:]


def test_a_proxy_stripping_authorization_before_the_gateway_is_missing_credential(tmp_path: Path) -> None:
    # The reference proxy as the contract's (no forwarding): the gateway then refuses every call.
    report, output = _local(tmp_path, **_gateway_env())
    assert ("proxy->mlflow", "missing_credential", "header.Authorization") in _unknown(report), output[-3000:]
    assert not any(kind == "credential_leak" for _, kind, _ in _unknown(report))


def test_the_reference_proxy_forwarding_a_key_without_the_overlay_leaks_it(tmp_path: Path) -> None:
    report, output = _local(tmp_path, HOKUSAI_PROXY_FORWARD_CREDENTIALS="true")
    assert ("proxy->mlflow", "credential_leak", "header.Authorization") in _unknown(report), output[-3000:]
    assert report["verdict"] == "fail"


def test_a_plain_key_refused_by_the_deployments_policy_is_diagnosed_by_its_own_words(tmp_path: Path) -> None:
    seed = tmp_path / "plain-keys.yaml"
    seed.write_text("keys:\n  - name: primary\n    service_id: platform\n    scopes: [read, write]\n"
                    "    rate_limit_per_hour: 100000\n", "utf-8")
    report, output = _local(tmp_path / "report", **_gateway_env(HOKUSAI_SEED_FILE=str(seed),
                                                               HOKUSAI_PROXY_FORWARD_CREDENTIALS="true"))
    summaries = [d["summary"] for d in report["diagnosis"]]
    first = summaries[0] if summaries else ""
    assert "REGISTRY_ADMIN_REQUIRED" in first and "Admin access required" in first, (summaries, output[-2000:])
    assert "scopes read, write" in first
    assert not any("another service id" in s for s in summaries)
