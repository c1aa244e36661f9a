"""The docker runner: one line and exit 2 without docker, compose or an engine; what it asks of
``docker compose`` (through a stand-in CLI that records it: files, project, variables in the
environment and never in argv, up --wait, down -v, clean-up after success and failure); and,
marked ``docker``, the real stack on a real engine."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hokusai_contracts._errors import StackError, UsageError
from hokusai_contracts.domain.redact import mask, redact
from hokusai_contracts.stack import docker_stack
from hokusai_contracts.stack.compose_render import Network, compose_file, render
from hokusai_contracts.stack.definition import CORE_PARTS, HEALTH_PATHS, Part, StackDefinition
from hokusai_contracts.stack.docker_stack import (
    COMPOSE_PROJECT,
    DockerStack,
    compose_down,
    compose_up,
    docker_available,
    running_docker_stack,
)
from hokusai_contracts.stack.processes import free_port

from .fake_docker import LEAKY_LOG, PRIMARY_KEY

#: What the runner reads from the environment (DockerSettings).
DOCKER_CHOICES = ("HOKUSAI_MLFLOW_IMAGE", "HOKUSAI_BASE_IMAGE", "HOKUSAI_PROXY_IMAGE", "HOKUSAI_DOCKER_NETWORK")
#: Variables of the file a run leaves at the file's default unless the user chooses them.
USER_CHOICES = {"HOKUSAI_BASE_IMAGE", "HOKUSAI_PROXY_IMAGE"}


@pytest.fixture(autouse=True)
def _clean_docker_choices(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's image and network choices are for the real engine, not for the stand-in."""
    if request.node.get_closest_marker("docker") is None:
        for name in DOCKER_CHOICES:
            monkeypatch.delenv(name, raising=False)


@dataclass
class FakeDocker:
    state: Path
    monkeypatch: pytest.MonkeyPatch

    def mode(self, mode: str) -> None:
        self.monkeypatch.setenv("FAKE_DOCKER_MODE", mode)

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []

    def compose_calls(self, action: str) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["argv"][:1] == ["compose"] and action in c["argv"]]


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDocker]:
    bin_dir, state = tmp_path / "bin", tmp_path / "docker-state"
    bin_dir.mkdir()
    state.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                      "runpy.run_module('fake_docker', run_name='__main__')\n", "utf-8")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(state))
    monkeypatch.delenv("FAKE_DOCKER_MODE", raising=False)
    fake = FakeDocker(state, monkeypatch)
    yield fake
    for pid_file in state.glob("*.pid"):  # a test that failed half-way must not leave its server
        subprocess.run(["kill", "-9", f"-{pid_file.read_text('utf-8')}"], check=False, capture_output=True)


# -- without docker, compose or an engine ------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message and "make contract-local" in message
    return message


def test_without_the_docker_command_start_stops_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as caught:
        DockerStack(StackDefinition()).start()
    assert "needs the `docker` command, and none is on PATH" in _one_line(caught.value)


@pytest.mark.parametrize(("mode", "words"), [("no-compose", "needs Docker Compose v2 (`docker compose`)"),
                                              ("no-engine", "no Docker engine reachable")])
def test_without_compose_or_an_engine_start_stops_at_once(fake_docker: FakeDocker, mode: str, words: str) -> None:
    fake_docker.mode(mode)
    stack = DockerStack(StackDefinition())
    with pytest.raises(StackError) as caught:
        stack.start()
    assert words in _one_line(caught.value)
    assert stack.root is None and not fake_docker.compose_calls("up")


@pytest.mark.parametrize("command", [["local", "--stack", "docker"], ["compose", "up"], ["compose", "down"]])
def test_the_cli_says_so_in_one_line_and_exits_2(tmp_path: Path, command: list[str]) -> None:
    # The real PATH without docker: this machine may or may not have one, the test must not care.
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", *command], capture_output=True, text=True,
                               timeout=60, env={**os.environ, "PATH": str(Path(sys.executable).parent)})
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert "`docker` command" in completed.stderr and "make contract-local" in completed.stderr


def test_docker_available_gives_the_reason(fake_docker: FakeDocker) -> None:
    assert docker_available() is None
    fake_docker.mode("no-engine")
    reason = docker_available()
    assert reason is not None and "Cannot connect to the Docker daemon" in reason


# -- a run, through the stand-in ---------------------------------------------------------------------


def test_a_run_is_compose_up_wait_on_the_generated_file_and_down_after(fake_docker: FakeDocker,
                                                                        tmp_path: Path) -> None:
    stack = DockerStack(StackDefinition())
    endpoints = stack.start()
    root = stack.root
    assert root is not None and stat.S_IMODE(root.stat().st_mode) == 0o700
    (up,) = fake_docker.compose_calls("up")
    argv = up["argv"]
    assert argv[:7] == ["compose", "-p", f"hokusai-{stack.run_id}", "-f", str(compose_file(Network.BRIDGE)),
                        "--env-file", os.devnull]
    assert {"--wait", "--detach"} <= set(argv)
    actions = [c["argv"][7] for c in fake_docker.calls() if c["argv"][:1] == ["compose"] and "-p" in c["argv"]]
    assert actions[:2] == ["build", "up"]  # the shared image exists before `up` would look for it
    variables = up["env"]
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", render(Network.BRIDGE)))
    assert used - set(variables) == USER_CHOICES  # every other variable is the run's own
    assert variables["HOKUSAI_ADMIN_TOKEN"] == stack.definition.admin_token
    assert variables["HOKUSAI_RUN_DIR"] == str(root / "run")
    assert variables["HOKUSAI_MLFLOW_IMAGE"] == "ghcr.io/mlflow/mlflow:v3.17.2"
    secrets = [variables["HOKUSAI_ADMIN_TOKEN"], variables["HOKUSAI_SEED_KEY"], variables["HOKUSAI_S3_SECRET_KEY"]]
    for call in fake_docker.calls():
        assert not any(secret in arg for secret in secrets for arg in call["argv"]), call["argv"]

    assert endpoints.api_key == PRIMARY_KEY  # the scenario key of the seed file, as in the process stack
    assert endpoints.keys["cli-1"]["key"] == variables["HOKUSAI_SEED_KEY"]
    assert endpoints.proxy_url == f"http://127.0.0.1:{variables['HOKUSAI_PROXY_PORT']}/api/mlflow"
    assert endpoints.mlflow_journal == root / "run" / "journals" / "mlflow-journal.jsonl"
    assert {f"start.{part}" for part in CORE_PARTS} | {"images+up", "start"} <= set(stack.timings)
    assert httpx.get(endpoints.auth_url + HEALTH_PATHS[Part.AUTH]).status_code == 200

    stack.kill(Part.AUTH)
    assert fake_docker.compose_calls("kill")[0]["argv"][-2:] == ["auth", "auth-journal"]
    stack.stop(keep_logs_in=tmp_path / "logs")
    (down,) = fake_docker.compose_calls("down")
    assert {"--volumes", "--remove-orphans"} <= set(down["argv"])
    assert not root.exists()
    proxy_log = (tmp_path / "logs" / "proxy.log").read_text("utf-8")
    # The admin token is masked on the way out.
    assert proxy_log == f"proxy says hello to {mask(stack.definition.admin_token)}\n"
    assert stack.definition.admin_token not in proxy_log
    with pytest.raises(httpx.ConnectError):
        httpx.get(endpoints.auth_url + HEALTH_PATHS[Part.AUTH])


def test_a_failed_up_names_the_part_shows_its_log_and_leaves_nothing(fake_docker: FakeDocker) -> None:
    fake_docker.mode("auth-fails")
    stack = DockerStack(StackDefinition())
    with pytest.raises(StackError, match=r"(?s)`docker compose up` failed .*auth-1 exited \(2\)") as caught:
        stack.start()
    message = str(caught.value)
    assert f"Last lines of auth's log:\n{redact(LEAKY_LOG)}" in message
    assert "hk_live_cccc" not in message  # the log tail is redacted
    assert len(fake_docker.compose_calls("down")) == 1
    assert stack.root is not None and not stack.root.exists()


def test_a_missing_scenario_key_fails_after_start_and_cleans_up(fake_docker: FakeDocker) -> None:
    stack = DockerStack(StackDefinition(scenario_key_name="nobody"))
    with pytest.raises(StackError, match="seeded no key named 'nobody'"):
        stack.start()
    assert len(fake_docker.compose_calls("down")) == 1 and not list(fake_docker.state.glob("*.pid"))


def test_a_definitions_choices_reach_the_files_variables(fake_docker: FakeDocker) -> None:
    definition = StackDefinition(with_journals=False, mlflow_fault="down", auth_profile="contract")
    stack = DockerStack(definition, "registry.example.com/team/proxy:1.2.3", profiles=("s3",))
    endpoints = stack.start()
    (up,) = fake_docker.compose_calls("up")
    assert up["argv"][7:9] == ["--profile", "s3"]
    variables = up["env"]
    assert variables["HOKUSAI_PROXY_AUTH_URL"] == "http://auth:8001"
    assert variables["HOKUSAI_PROXY_MLFLOW_URL"] == "http://127.0.0.1:1"
    assert variables["HOKUSAI_AUTH_PROFILE"] == "contract"
    assert variables["HOKUSAI_PROXY_IMAGE"] == "registry.example.com/team/proxy:1.2.3"
    assert variables["HOKUSAI_MLFLOW_IMAGE"] == "ghcr.io/mlflow/mlflow:v3.17.2-full"
    assert variables["HOKUSAI_MLFLOW_ARTIFACTS_DESTINATION"] == "s3://hokusai-mlflow-artifacts/artifacts"
    assert endpoints.auth_journal is None
    stack.stop()


def test_the_environment_chooses_images_and_network_and_arguments_win(fake_docker: FakeDocker,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_MLFLOW_IMAGE", "local/mlflow:3.17.2")
    monkeypatch.setenv("HOKUSAI_BASE_IMAGE", "local/python:3.11")
    monkeypatch.setenv("HOKUSAI_PROXY_IMAGE", "env/proxy:1")
    monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "host")
    # The fixed ports of host networking are not this test's to take on a shared machine.
    monkeypatch.setattr(DockerStack, "_host_ports", lambda self: {part: free_port() for part in Part})
    with running_docker_stack(StackDefinition(), "mine/proxy:2"):
        pass
    (up,) = fake_docker.compose_calls("up")
    assert up["argv"][4] == str(compose_file(Network.HOST))
    assert up["env"]["HOKUSAI_MLFLOW_IMAGE"] == "local/mlflow:3.17.2"
    assert up["env"]["HOKUSAI_BASE_IMAGE"] == "local/python:3.11"
    assert up["env"]["HOKUSAI_PROXY_IMAGE"] == "mine/proxy:2"


def test_a_bad_network_setting_stops_before_docker_is_asked(fake_docker: FakeDocker,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "overlay")
    with pytest.raises(UsageError, match=r"^HOKUSAI_DOCKER_NETWORK: .*'overlay'") as caught:
        DockerStack(StackDefinition()).start()
    assert "\n" not in str(caught.value) and fake_docker.calls() == []


def test_the_context_manager_removes_the_stack_when_the_body_fails(fake_docker: FakeDocker) -> None:
    with pytest.raises(RuntimeError, match="scenario broke"):
        with running_docker_stack(StackDefinition()) as stack:
            assert stack.endpoints is not None
            raise RuntimeError("scenario broke")
    assert len(fake_docker.compose_calls("down")) == 1 and stack.root is not None and not stack.root.exists()


def test_compose_up_keeps_the_default_ports_and_compose_down_removes_it(
        fake_docker: FakeDocker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_stack, "_compose_root", lambda: tmp_path / "hokusai-docker-compose")
    ports = {part: free_port() for part in Part}  # stand-ins for DEFAULT_PORTS, which are not ours here
    monkeypatch.setattr(DockerStack, "_host_ports", lambda self: ports)
    stack = compose_up()
    assert stack.project == COMPOSE_PROJECT and stack.root == tmp_path / "hokusai-docker-compose"
    assert (stack.root / "run" / "state" / "auth-state.json").exists()
    with pytest.raises(StackError, match="already up"):
        compose_up()
    removed = compose_down()
    assert f"folder {stack.root}" in removed and f"Container {COMPOSE_PROJECT}-proxy-1  Removed" in removed
    assert not stack.root.exists()
    assert [c["argv"][2] for c in fake_docker.compose_calls("down")] == [COMPOSE_PROJECT]


# -- a real engine ---------------------------------------------------------------------------------


@pytest.fixture
def real_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = docker_available()
    if reason is not None:
        pytest.skip(reason)
    # Host networking unless told otherwise: engines in CI sandboxes often cannot make or use bridge
    # networks. The images come from the environment as for `make` (HOKUSAI_MLFLOW_IMAGE, ...).
    if not os.environ.get("HOKUSAI_DOCKER_NETWORK"):
        monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "host")


def _project_containers(project: str) -> list[str]:
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                            capture_output=True, text=True, check=True)
    return listed.stdout.split()


def _everything() -> dict[str, set[str]]:
    """What `docker ps -a`, `docker network ls` and `docker volume ls` list."""
    def ids(*argv: str) -> set[str]:
        return set(subprocess.run(["docker", *argv], capture_output=True, text=True, check=True).stdout.split())
    return {"containers": ids("ps", "-aq"), "networks": ids("network", "ls", "-q"),
            "volumes": ids("volume", "ls", "-q")}


@pytest.mark.docker
@pytest.mark.slow
def test_the_docker_stack_starts_healthy_and_leaves_nothing(real_engine: None) -> None:
    stack = DockerStack(StackDefinition())
    try:
        endpoints = stack.start()
        for part, url in stack.urls.items():
            answer = httpx.get(f"{url}{HEALTH_PATHS[part]}", timeout=5)
            assert answer.status_code in ((200, 503) if part is Part.PROXY else (200,)), part
        answer = httpx.get(endpoints.proxy_url + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                           headers={"Authorization": f"Bearer {endpoints.api_key}"}, timeout=30)
        assert answer.status_code == 200, answer.text
    finally:
        stack.stop()
    assert stack.project is not None and _project_containers(stack.project) == []


@pytest.mark.docker
@pytest.mark.slow
def test_a_failed_docker_start_leaves_nothing(real_engine: None) -> None:
    stack = DockerStack(StackDefinition(scenario_key_name="nobody"))
    with pytest.raises(StackError, match="nobody"):
        stack.start()
    assert stack.project is not None and _project_containers(stack.project) == []


@pytest.mark.docker
@pytest.mark.slow
def test_a_local_run_on_docker_passes_and_leaves_the_engine_as_it_was(real_engine: None, tmp_path: Path) -> None:
    """`make contract-local STACK=docker` without the fuzzing: scenario, hop journals, faults, reports."""
    from hokusai_contracts.run.local import LocalOptions, run_local

    before = _everything()
    options = LocalOptions(report_dir=tmp_path, stack="docker", suites=[], artifact_mb=0)
    report = run_local(options, out=lambda line: None)
    assert report.verdict == "pass", [(f.kind, f.observed) for f in report.findings if not f.known]
    assert {"contract-report.json", "contract-report.md", "junit.xml"} <= {p.name for p in tmp_path.iterdir()}
    assert {f"{part}.log" for part in CORE_PARTS} <= {p.name for p in (tmp_path / "logs").iterdir()}
    assert any(check.suite == "faults" for check in report.checks)
    assert _everything() == before


def test_mlflow_version_picks_the_official_image_of_that_version(fake_docker: FakeDocker) -> None:
    stack = DockerStack(StackDefinition(mlflow_version="v3.9.0"))
    stack.start()
    try:
        (up,) = fake_docker.compose_calls("up")
        assert up["env"]["HOKUSAI_MLFLOW_IMAGE"] == "ghcr.io/mlflow/mlflow:v3.9.0"
    finally:
        stack.stop()


def test_a_bad_mlflow_version_stops_the_docker_stack_before_compose(fake_docker: FakeDocker) -> None:
    stack = DockerStack(StackDefinition(mlflow_version="newest"))
    with pytest.raises(UsageError, match="MLFLOW_VERSION='newest' is not an MLflow version"):
        stack.start()
    assert stack.root is None and not fake_docker.calls()
