"""The MLflow side of the plan: MLFLOW_CMD and its placeholders, MLFLOW_PREFIX, the reference gateway,
and the journal of the MLflow side's own calls to the auth service (hop mlflow->auth)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.stack.definition import DEFAULT_PORTS, Expect, Part, StackDefinition, mlflow_api_prefix
from hokusai_contracts.stack.plan import MLFLOW_CMD_PLACEHOLDERS, Site, build_plan, check_mlflow_cmd
from hokusai_contracts.stack.processes import ProcessStack

_CMD = ("{mlflow_python} -m mlflow server --port {port} --backend-store-uri {backend_store_uri} "
        "--default-artifact-root {default_artifact_root} --artifacts-destination {artifacts_destination} "
        "--auth {auth_url}")


def _site() -> Site:
    return Site(python="python3", mlflow="/envs/m/bin/mlflow", bind_host="127.0.0.1", ports=DEFAULT_PORTS,
                hosts=dict.fromkeys(Part, "127.0.0.1"), run_dir="/run", seed_file="/seed.yaml",
                unreachable_url="http://127.0.0.1:1", mlflow_stores=("sqlite:////run/m.db", "/run/artifacts"),
                mlflow_python="/envs/m/bin/python")


def test_mlflow_cmd_gets_every_placeholder_and_a_journal_in_front_of_auth() -> None:
    plan = build_plan(StackDefinition(mlflow_cmd=_CMD), _site())
    mlflow = plan.parts[Part.MLFLOW]
    auth_journal = f"http://127.0.0.1:{DEFAULT_PORTS[Part.MLFLOW_AUTH_JOURNAL]}"
    assert mlflow.shell and mlflow.argv == (
        f"/envs/m/bin/python -m mlflow server --port {DEFAULT_PORTS[Part.MLFLOW]} --backend-store-uri "
        "sqlite:////run/m.db --default-artifact-root mlflow-artifacts:/ --artifacts-destination /run/artifacts "
        f"--auth {auth_journal}",)
    assert mlflow.env["HOKUSAI_AUTH_SERVICE_URL"] == auth_journal
    assert mlflow.env["PATH"].startswith("/envs/m/bin:")
    journal = plan.parts[Part.MLFLOW_AUTH_JOURNAL]
    assert journal.argv[journal.argv.index("--hop") + 1] == Hop.MLFLOW_TO_AUTH.value
    assert journal.argv[journal.argv.index("--upstream") + 1] == f"http://127.0.0.1:{DEFAULT_PORTS[Part.AUTH]}"
    # Behind a gateway an API call without a key is refused: served is up, a 5xx is not.
    assert mlflow.health.expect is Expect.SERVED and mlflow.health.accepts(401) and not mlflow.health.accepts(502)


def test_a_bare_mlflow_server_has_no_mlflow_side_journal() -> None:
    assert Part.MLFLOW_AUTH_JOURNAL not in build_plan(StackDefinition(), _site()).parts


def test_the_prefix_reaches_mlflow_its_health_rule_and_the_proxys_mlflow_url() -> None:
    # The pinned MLflow (3.12 or later) serves its REST API under its static prefix.
    plan = build_plan(StackDefinition(mlflow_prefix="/mlflow"), _site())
    mlflow = plan.parts[Part.MLFLOW]
    assert mlflow.argv[-2:] == ("--static-prefix", "/mlflow")
    assert mlflow.health.path.startswith("/mlflow/api/2.0/mlflow/") and mlflow.health.expect is Expect.OK
    assert plan.parts[Part.PROXY].env["MLFLOW_SERVER_URL"] == \
        f"http://127.0.0.1:{DEFAULT_PORTS[Part.MLFLOW_JOURNAL]}/mlflow"


def test_before_mlflow_3_12_the_rest_api_stays_at_the_root_whatever_the_prefix() -> None:
    """Production's 3.9.0 with _MLFLOW_STATIC_PREFIX=/mlflow: /api/2.0 at the root, as its proxy is pointed."""
    plan = build_plan(StackDefinition(mlflow_prefix="/mlflow", mlflow_version="3.9.0", mlflow_gateway=True), _site())
    mlflow = plan.parts[Part.MLFLOW]
    assert mlflow.argv[mlflow.argv.index("--static-prefix") + 1] == "/mlflow"
    assert mlflow.health.path.startswith("/api/2.0/mlflow/")
    assert plan.parts[Part.PROXY].env["MLFLOW_SERVER_URL"] == f"http://127.0.0.1:{DEFAULT_PORTS[Part.MLFLOW_JOURNAL]}"


@pytest.mark.parametrize(("prefix", "version", "api"), [
    ("/mlflow", "3.9.0", ""), ("/mlflow", "3.11.1", ""), ("/mlflow", "3.12.0", "/mlflow"),
    ("/mlflow", "3.17.2", "/mlflow"), ("", "3.17.2", ""), ("/mlflow", None, "/mlflow")])
def test_where_the_rest_api_is(prefix: str, version: str | None, api: str) -> None:
    assert mlflow_api_prefix(prefix, version) == api


def test_the_reference_gateway_fronts_an_mlflow_server_it_starts() -> None:
    plan = build_plan(StackDefinition(mlflow_gateway=True, mlflow_prefix="/mlflow"), _site())
    argv = plan.parts[Part.MLFLOW].argv
    assert argv[:3] == ("python3", "-m", "hokusai_mocks.admin_gateway")
    assert argv[argv.index("--port") + 1] == str(DEFAULT_PORTS[Part.MLFLOW])
    server = argv[argv.index("--") + 1:]
    assert server[:2] == ("/envs/m/bin/mlflow", "server") and "--port" not in server
    # The gateway gives MLflow its static prefix, as production's entrypoint does, and passes paths as they come.
    assert argv[argv.index("--static-prefix") + 1] == "/mlflow" and "--static-prefix" not in server
    assert Part.MLFLOW_AUTH_JOURNAL in plan.parts


@pytest.mark.parametrize("command", ["mlflow --port {prot}", "x {proxy_url}", "x {port", "x {auth_url!z}"])
def test_a_bad_mlflow_cmd_names_mlflow_cmd_and_the_placeholders(command: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_mlflow_cmd(command)
    message = str(caught.value)
    assert message.startswith("MLFLOW_CMD ") and "\n" not in message
    assert all("{" + name + "}" in message for name in MLFLOW_CMD_PLACEHOLDERS)


def test_a_bad_mlflow_cmd_is_refused_before_any_process_or_temp_dir(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    children = {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    made: list[str] = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: made.append("process") or real_popen(*a, **k))
    with pytest.raises(UsageError, match="MLFLOW_CMD has an unknown placeholder"):
        ProcessStack(StackDefinition(mlflow_cmd="mlflow server --port {prot}")).start()
    assert made == [] and list(tmp_path.iterdir()) == []
    assert {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)} == children
