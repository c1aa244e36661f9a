"""MLflow versions the platform ran: their environments, their contracts, their clients through the proxy.

Each test builds (first time) or reuses the cached environment of a version (``mlflow_env``): with
uv and a warm uv cache that is seconds, cold about ten. The stacks run the real ``mlflow server``
of that version behind the reference proxy, and the clients are that version's real MLflow client
in its own environment (``registration_client.py``), so what the journals saw is what a third
party with that client sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.client_versions import ClientRun, client_checks, run_client_scenario
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.journal.recording import JournalEntry, read_journal
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.mlflow_contracts import mlflow_contracts, regenerate_contracts
from hokusai_contracts.stack.mlflow_env import mlflow_environment
from hokusai_contracts.stack.processes import ProcessStack, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLATFORM_VERSIONS = ("2.9.2", "3.4.0", "3.9.0")


@pytest.mark.parametrize("version", PLATFORM_VERSIONS)
def test_committed_contracts_match_a_generation_from_their_versions_protos(version: str) -> None:
    assert regenerate_contracts(version, check=True) == [], f"run `make contracts MLFLOW_VERSION={version}`"


def test_a_version_the_registry_does_not_have_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("HOKUSAI_CACHE_DIR", str(tmp_path))
    with pytest.raises(UsageError) as caught:
        mlflow_environment("9.9.9")
    assert str(caught.value).startswith("MLFLOW_VERSION=9.9.9: there is no MLflow 9.9.9 on the package index")
    assert caught.value.exit_code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow-9.9.9.lock"]  # nothing half-built left


def test_a_registry_that_cannot_be_reached_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("HOKUSAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv"))  # empty: uv has to ask the index
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")  # loopback, nobody listens
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    with pytest.raises(UsageError) as caught:
        mlflow_environment("2.9.2", "MLFLOW_CLIENTS")
    assert str(caught.value).startswith("MLFLOW_CLIENTS=2.9.2: the package index cannot be reached")
    assert "\n" not in str(caught.value)


def _stack(version: str) -> Iterator[ProcessStack]:
    with running_stack(StackDefinition(mlflow_version=version)) as stack:
        assert stack.endpoints is not None and stack.endpoints.mlflow_journal is not None
        yield stack


@pytest.fixture(scope="module")
def server_3_9() -> Iterator[ProcessStack]:
    yield from _stack("3.9.0")


@pytest.fixture(scope="module")
def server_2_9() -> Iterator[ProcessStack]:
    yield from _stack("2.9.2")


def _register(stack: ProcessStack, client_version: str) -> tuple[ClientRun, list[JournalEntry], list[str]]:
    endpoints = stack.endpoints
    assert endpoints is not None and endpoints.mlflow_journal is not None
    before = len(read_journal(endpoints.mlflow_journal))
    lines: list[str] = []
    run = run_client_scenario(mlflow_environment(client_version, "MLFLOW_CLIENTS"), endpoints.proxy_url,
                              endpoints.api_key, health_url=endpoints.proxy_url + "/health/mlflow", out=lines.append)
    return run, read_journal(endpoints.mlflow_journal)[before:], lines


def _calls(entries: list[JournalEntry]) -> set[tuple[str, str, int | None]]:
    return {(entry.method, entry.path, entry.status) for entry in entries}


def test_the_server_is_the_version_asked_for(server_3_9: ProcessStack) -> None:
    import httpx

    assert server_3_9.endpoints is not None
    assert httpx.get(server_3_9.endpoints.mlflow_url + "/version", timeout=10).text == "3.9.0"
    assert server_3_9.plan is not None
    assert "/mlflow-3.9.0/bin/" in server_3_9.plan.parts[Part.MLFLOW].argv[0]


def test_a_2_9_client_registers_through_the_proxy_against_a_3_9_server(server_3_9: ProcessStack) -> None:
    run, entries, lines = _register(server_3_9, "2.9.2")
    assert run.ok, lines
    assert run.client["mlflow"] == "2.9.2"
    calls = _calls(entries)
    # The 2.x way of logging a model reached the 3.9 server, and nothing of 3.x's logged models.
    assert ("POST", "/api/2.0/mlflow/runs/log-model", 200) in calls
    assert ("POST", "/api/2.0/mlflow/model-versions/create", 200) in calls
    assert not [c for c in calls if "logged-models" in c[1]]
    assert all(status is not None and status < 400 for _, _, status in calls), sorted(calls, key=str)
    contract = Contract.load(mlflow_contracts("3.9.0").mlflow)
    assert judge_journal(entries, contract, Hop.PROXY_TO_MLFLOW) == []
    checks = {check.name: check.status for check in client_checks(run)}
    assert checks["mlflow-2.9.2:logistic:register"] is CheckStatus.PASSED
    assert checks["mlflow-2.9.2:logistic:verify"] is CheckStatus.PASSED


def test_a_3_9_client_cannot_log_a_model_through_the_proxy_to_a_2_9_server(server_2_9: ProcessStack) -> None:
    run, entries, lines = _register(server_2_9, "3.9.0")
    assert not run.ok
    failure = run.failure
    assert failure is not None and (failure.name, failure.status) == ("log_model", 404), lines
    calls = _calls(entries)
    assert ("POST", "/api/2.0/mlflow/logged-models", 404) in calls  # 3.x's first call of log_model
    assert ("POST", "/api/2.0/mlflow/runs/create", 200) in calls  # what came before it worked
    findings = judge_journal(entries, Contract.load(mlflow_contracts("2.9.2").mlflow), Hop.PROXY_TO_MLFLOW)
    assert [(f.kind, f.operation) for f in findings] == [
        (FindingKind.UNKNOWN_OPERATION, "POST /api/2.0/mlflow/logged-models")]
    checks = {check.name: check.status for check in client_checks(run)}
    assert checks["mlflow-3.9.0:logistic:log_model"] is CheckStatus.FAILED
    assert "mlflow-3.9.0:logistic:register" not in checks


def test_contract_local_against_mlflow_3_9_with_a_2_9_client_passes_end_to_end(tmp_path: Path) -> None:
    """The whole local run (stack, scenario, suites, journals, faults) against a 3.9.0 server."""
    import json
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(tmp_path),
         "--mlflow-version", "3.9.0", "--mlflow-clients", "2.9.2"],
        capture_output=True, text=True, timeout=900, env={**__import__("os").environ, "HOKUSAI_ARTIFACT_MB": "5"})
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    report = json.loads((tmp_path / "contract-report.json").read_text())
    assert report["verdict"] == "pass"
    assert [f for f in report["findings"] if not f["known"]] == []
    assert report["targets"]["mlflow_version"] == "3.9.0" and report["targets"]["client_versions"] == ["2.9.2"]
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["mlflow-2.9.2:logistic:register"] == "passed" and checks["logistic:register"] == "passed"
    assert {c["contract"] for c in report["coverage"]} == {"contracts/auth-service.yaml",
                                                          "contracts/mlflow/3.9.0/mlflow-proxy.yaml"}
    journal = next(c for c in report["checks"] if c["name"].startswith("proxy->mlflow (mlflow-2.9.2 client"))
    assert journal["status"] == "passed" and "contracts/mlflow/3.9.0/mlflow.yaml" in journal["message"]
    diff = json.loads((tmp_path / "mlflow-diff-2.9.2-3.9.0.json").read_text())
    assert diff["verdict"] == "compatible" and "POST /api/2.0/mlflow/logged-models" in diff["operations_added"]


def test_a_bad_mlflow_version_stops_contract_local_before_the_stack(tmp_path: Path) -> None:
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(tmp_path),
                                "--mlflow-clients", "2.9.2,9.9.9"], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1].startswith(
        "hokusai-contracts: error: MLFLOW_CLIENTS=9.9.9: there is no MLflow 9.9.9 on the package index")
    assert "Local stack is up" not in completed.stdout and not (tmp_path / "contract-report.json").exists()
