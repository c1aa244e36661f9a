"""Production's stores for real: MLflow on a PostgreSQL server and an S3 bucket (moto), started and ended
with the stack; nothing left after a normal end or a SIGKILL of the runner; the end-to-end run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from hokusai_contracts.stack.definition import BUCKET, Part, StackDefinition
from hokusai_contracts.stack.postgres import find_postgres
from hokusai_contracts.stack.processes import ProcessStack

from ..process_tree import alive as _alive
from ..process_tree import descendants as _everything_under
from ..process_tree import process_name as _name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOTH = StackDefinition(backend_store="postgresql", artifact_store="s3")


def _settle(pids: set[int], root: Path, seconds: float = 15.0) -> tuple[dict[int, str], bool]:
    deadline = time.monotonic() + seconds
    while (_alive(pids) or root.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids), root.exists()


def test_mlflow_runs_on_both_stores_the_credentials_stay_in_its_environment_and_nothing_is_left() -> None:
    find_postgres()  # CI and this machine have Debian's postgresql-15: a missing one is a broken setup, not a skip
    before = _everything_under(os.getpid())  # a whole session's runner may have children of its own
    stack = ProcessStack(BOTH)
    endpoints = stack.start()
    root = stack.root
    assert root is not None
    try:
        assert stack.stores[0].startswith("postgresql 15.") and stack.stores[1].startswith("s3 (s3://")
        mlflow = endpoints.mlflow_url
        created = httpx.post(f"{mlflow}/api/2.0/mlflow/experiments/create", json={"name": "stores-probe"})
        experiment = httpx.get(f"{mlflow}/api/2.0/mlflow/experiments/get",
                               params={"experiment_id": created.json()["experiment_id"]}).json()["experiment"]
        assert experiment["artifact_location"].startswith("mlflow-artifacts:")
        put = httpx.put(f"{mlflow}/api/2.0/mlflow-artifacts/artifacts/probe/hello.txt", content=b"hello")
        assert put.status_code == 200
        # The bytes are in the bucket, not on MLflow's disk.
        s3 = stack.parts[Part.S3].url
        listing = httpx.get(f"{s3}/{BUCKET}", params={"prefix": "artifacts/probe/"}).text
        assert "artifacts/probe/hello.txt" in listing
        assert not list((root / "mlflow").rglob("hello.txt"))
        # PostgreSQL, production's constraint: a name past the column's 256 characters is a 400 (SQLite: 200).
        long_name = httpx.post(f"{mlflow}/api/2.0/mlflow/experiments/create", json={"name": "x" * 300})
        assert long_name.status_code == 400 and "character varying(256)" in long_name.text

        server = stack.parts[Part.POSTGRES].process.pid
        everything = (_everything_under(os.getpid()) | _everything_under(server)) - before
        if os.geteuid() == 0:
            assert {psutil.Process(p).username() for p in _everything_under(server)} <= {"postgres", "nobody"}
        plan = stack.plan
        assert plan is not None
        secrets = (plan.parts[Part.POSTGRES].env["HOKUSAI_POSTGRES_PASSWORD"],
                   plan.parts[Part.S3].env["AWS_SECRET_ACCESS_KEY"])
        assert all(secrets)
        for pid in everything:
            try:
                argv = psutil.Process(pid).cmdline()
            except psutil.NoSuchProcess:
                continue
            assert not any(secret in arg for secret in secrets for arg in argv), argv[:3]
        assert not any(secret in value for secret in secrets for value in os.environ.values())  # the client's
    finally:
        stack.stop()
    left, kept = _settle(everything, root)
    assert left == {} and not kept


_RUNNER = """
import sys, time
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import ProcessStack
stack = ProcessStack(StackDefinition(backend_store="postgresql", artifact_store="s3"))
stack.start()
print(stack.root, flush=True)
time.sleep(600)
"""


def test_a_runner_killed_with_sigkill_leaves_no_store_process_and_no_temp_dir() -> None:
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER], stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None
    root = Path(runner.stdout.readline().strip())
    assert root.name.startswith("hokusai-stack-") and (root / "postgres").exists()
    everything = _everything_under(runner.pid) - {runner.pid}
    assert "postgres" in {_name(p) for p in everything}
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)
    runner.stdout.close()
    left, kept = _settle(everything, root)
    assert left == {} and not kept


def test_contract_local_on_both_stores_passes_and_names_them(tmp_path: Path) -> None:
    """`make contract-local BACKEND_STORE=postgresql ARTIFACT_STORE=s3`, lean: the scenario, the probes, the
    large artifact and the hop journals, without the suites and the faults (their own tests cover them)."""
    reports = tmp_path / "reports"
    env = {**os.environ, "HOKUSAI_BACKEND_STORE": "postgresql", "HOKUSAI_ARTIFACT_STORE": "s3",
           "HOKUSAI_ARTIFACT_MB": "24"}
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(reports),
                                "--suites", "none", "--no-faults"], capture_output=True, text=True, timeout=600,
                               cwd=tmp_path, env=env)
    output = completed.stdout + completed.stderr
    report = json.loads((reports / "contract-report.json").read_text())
    unknown = [(f["hop"], f["operation"], f["kind"], f["observed"][:200]) for f in report["findings"] if not f["known"]]
    assert completed.returncode == 0, (unknown, output[-3000:])
    assert report["targets"]["backend_store"].startswith("postgresql 15.")
    assert report["targets"]["artifact_store"].startswith("s3 (s3://hokusai-mlflow-artifacts/artifacts, moto)")
    multipart = {c["name"]: c for c in report["checks"] if "multipart" in c["name"]}
    assert sorted(multipart) == ["logistic:multipart_model", "multipart upload through the proxy (s3)"], multipart
    assert all(c["status"] == "passed" and "straight to the store's presigned URLs" in c["message"]
               for c in multipart.values()), multipart
    # The scenario's large model: 24 MB in 5 MB parts, each counted as the client uploaded it.
    assert report["metrics"]["scenario_multipart_parts"] == 5
    assert "24 MB of weights in 5 parts" in multipart["logistic:multipart_model"]["message"]


def test_with_local_artifacts_a_multipart_client_gets_the_501_through_the_proxy_and_falls_back() -> None:
    from hokusai_contracts.checks.probes.multipart import fallback_upload, run_multipart
    from hokusai_contracts.contracts.loading import Contract
    from hokusai_contracts.report.model import CheckStatus

    root = Path(__file__).resolve().parents[2]
    proxy = Contract.load(root / "contracts" / "mlflow-proxy.yaml", root=root)

    stack = ProcessStack(StackDefinition(with_journals=False))
    endpoints = stack.start()
    try:
        unchanged = run_multipart(endpoints.proxy_url, endpoints.api_key, endpoints.mlflow_url, s3=False,
                                  contract=proxy).checks
        fallback = fallback_upload(endpoints.proxy_url, endpoints.api_key)
    finally:
        stack.stop()
    # create, complete, abort and presigned: each 501 of the real MLflow passed on by the reference proxy.
    assert [(c.status, c.findings) for c in unchanged] == [(CheckStatus.PASSED, [])] * 4
    assert fallback.status is CheckStatus.PASSED, fallback.message
    assert "fell back to one PUT" in fallback.message
