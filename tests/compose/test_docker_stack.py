"""The docker runner: a clear stop without an engine; its orchestration against a fake engine (order,
labels, loopback ports, endpoints, clean-up after success and failure); and, marked ``docker``, the
real stack on a real engine."""

from __future__ import annotations

import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import httpx
import pytest

from hokusai_contracts._errors import StackError, UsageError
from hokusai_contracts.stack.compose_file import COMPOSE_FILE, load_compose
from hokusai_contracts.stack.definition import DEFAULT_PORTS, HEALTH_PATHS, Part, StackDefinition, project_root
from hokusai_contracts.stack.docker_engine import LABEL_RUN, LABEL_SERVICE, build_context, connect
from hokusai_contracts.stack.docker_stack import (
    DockerStack,
    compose_down,
    compose_up,
    docker_available,
    running_docker_stack,
)

#: What the runner reads from the environment (DockerSettings).
DOCKER_CHOICES = ("HOKUSAI_MLFLOW_IMAGE", "HOKUSAI_BASE_IMAGE", "HOKUSAI_PROXY_IMAGE", "HOKUSAI_DOCKER_NETWORK")


@pytest.fixture(autouse=True)
def _clean_docker_choices(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's image and network choices are for the real engine, not for the fake one."""
    if request.node.get_closest_marker("docker") is None:
        for name in DOCKER_CHOICES:
            monkeypatch.delenv(name, raising=False)


# -- without an engine -----------------------------------------------------------------------------


def test_without_an_engine_start_stops_at_once_and_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    started = time.perf_counter()
    with pytest.raises(StackError) as caught:
        DockerStack(StackDefinition()).start()
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "no Docker engine reachable at tcp://127.0.0.1:1" in message
    assert "make contract-local" in message
    assert "\n" not in message


def test_docker_available_gives_one_line_when_no_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    reason = docker_available()
    assert reason is not None and "tcp://127.0.0.1:1" in reason and "\n" not in reason


def test_the_build_context_is_only_what_the_dockerfile_copies() -> None:
    with tarfile.open(fileobj=build_context(project_root(), "compose/Dockerfile"), mode="r:gz") as tar:
        names = tar.getnames()
        owners = {(member.uid, member.mtime) for member in tar.getmembers()}
    tops = {name.split("/")[0] for name in names}
    assert tops == {"constraints.txt", "pyproject.toml", "README.md", "src", "mocks", "compose"}
    assert "compose/Dockerfile" in names and "mocks/fake_auth/keys.yaml" in names
    assert "src/hokusai_contracts/journal/recording.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".egg-info" in n]
    assert owners == {(0, 0)}  # the same tree gives the same context: the build cache holds


# -- a fake engine ---------------------------------------------------------------------------------


class _Thing:
    def __init__(self, engine: FakeEngine, kind: str, name: str, labels: dict[str, str]) -> None:
        self.engine, self.kind, self.name, self.labels = engine, kind, name, labels

    def remove(self, **_: Any) -> None:
        self.engine.things.remove(self)


class FakeContainer(_Thing):
    def __init__(self, engine: FakeEngine, options: dict[str, Any]) -> None:
        super().__init__(engine, "container", options["name"], options["labels"])
        self.options = options
        self.attrs: dict[str, Any] = {"State": {"Status": "created"}, "NetworkSettings": {"Ports": {}}}
        self.output = b""

    @property
    def service(self) -> str:
        return self.labels[LABEL_SERVICE]

    def start(self) -> None:
        self.engine.started.append(self.service)
        self.attrs["NetworkSettings"]["Ports"] = {
            port: [{"HostIp": ip, "HostPort": str(49000 + len(self.engine.started))}]
            for port, (ip, _) in self.options.get("ports", {}).items()}
        if self.service in self.engine.crash:
            self.output = b"fake auth: cannot start with key hk_live_" + b"c" * 32 + b"\n"
            self.attrs["State"] = {"Status": "exited", "ExitCode": 2}
        elif self.options.get("entrypoint") == ["mc"]:
            self.attrs["State"] = {"Status": "exited", "ExitCode": 0}
        else:
            self.attrs["State"] = {"Status": "running", "Health": {"Status": "healthy"}}
        if self.service == "auth" and self.service not in self.engine.crash:
            self._write_state()

    def _write_state(self) -> None:
        run = next(source for source, mount in self.options["volumes"].items() if mount["bind"] == "/hokusai/run")
        seed_key = self.options["environment"]["FAKE_AUTH_API_KEYS"].split("@")[0]
        keys = [{"name": "primary", "key": "hk_live_" + "p" * 32, "key_id": "1", "service_id": "platform",
                 "state": "active"},
                {"name": "cli-1", "key": seed_key, "key_id": "2", "service_id": "platform", "state": "active"}]
        state = {"keys": keys, "admin_token": self.options["environment"]["FAKE_AUTH_ADMIN_TOKEN"], "base_url": "x"}
        (Path(run) / "state" / "auth-state.json").write_text(json.dumps(state), "utf-8")

    def reload(self) -> None:
        pass

    def logs(self, **_: Any) -> bytes:
        return self.output or f"{self.service} says hello\n".encode()

    def kill(self) -> None:
        self.attrs["State"] = {"Status": "exited", "ExitCode": 137}


class _Collection:
    def __init__(self, engine: FakeEngine, kind: str) -> None:
        self.engine, self.kind = engine, kind

    def create(self, name: str | None = None, **options: Any) -> _Thing:
        if self.kind == "container":
            thing: _Thing = FakeContainer(self.engine, {"name": name, **options})
        else:
            thing = _Thing(self.engine, self.kind, str(name), options.get("labels", {}))
        self.engine.things.append(thing)
        return thing

    def list(self, all: bool = False, filters: dict[str, str] | None = None) -> list[_Thing]:
        key, _, value = (filters or {}).get("label", "").partition("=")
        return [t for t in self.engine.things if t.kind == self.kind
                and (not key or (key in t.labels and (not value or t.labels[key] == value)))]


class FakeEngine:
    """The part of docker-py's DockerClient the runner uses, keeping what it was asked to do."""

    def __init__(self, crash: tuple[str, ...] = ()) -> None:
        self.things: list[_Thing] = []
        self.started: list[str] = []
        self.crash = crash
        self.built: list[dict[str, Any]] = []
        self.pulled: list[str] = []
        self.containers = _Collection(self, "container")
        self.networks = _Collection(self, "network")
        self.volumes = _Collection(self, "volume")
        self.images = SimpleNamespace(build=self._build, get=self._get, pull=self.pulled.append)
        self.api = SimpleNamespace(timeout=60)

    def _build(self, **options: Any) -> None:
        self.built.append(options)

    def _get(self, image: str) -> None:
        if image not in self.pulled:
            raise docker.errors.ImageNotFound(image)

    def info(self) -> dict[str, Any]:
        return {"SecurityOptions": ["name=seccomp,profile=builtin"]}

    def container(self, service: str) -> FakeContainer:
        return next(t for t in self.things if isinstance(t, FakeContainer) and t.service == service)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def test_a_run_starts_in_dependency_order_and_removes_everything(engine: FakeEngine, tmp_path: Path) -> None:
    stack = DockerStack(StackDefinition(), client=engine)
    endpoints = stack.start()
    root = stack.root
    assert root is not None and root.exists()

    assert engine.started.index("proxy") > max(engine.started.index(p) for p in ("auth", "auth-journal",
                                                                                     "mlflow-journal"))
    assert [b["tag"] for b in engine.built] == ["hokusai-contracts/stack:0.1.0"]
    assert engine.built[0]["dockerfile"] == "compose/Dockerfile"
    assert engine.pulled == ["python:3.11-slim", "ghcr.io/mlflow/mlflow:v3.17.2"]  # the official images
    assert engine.built[0]["buildargs"] == {"BASE_IMAGE": "python:3.11-slim"}
    assert engine.built[0]["network_mode"] is None
    assert {t.labels[LABEL_RUN] for t in engine.things} == {stack.run_id}
    assert {(t.kind, t.name) for t in engine.things if t.kind != "container"} == {
        ("network", f"hokusai-{stack.run_id}"), ("volume", f"hokusai-{stack.run_id}-mlflow-data")}
    for container in engine.containers.list(all=True):
        assert isinstance(container, FakeContainer)
        assert all(ip == "127.0.0.1" and port is None for ip, port in container.options.get("ports", {}).values())

    assert endpoints.api_key == "hk_live_" + "p" * 32  # the scenario key of the seed file, as in the process stack
    assert endpoints.keys["cli-1"]["key"].startswith("hk_live_")
    assert endpoints.proxy_url == stack.parts[Part.PROXY].url + "/api/mlflow"
    assert endpoints.mlflow_journal == root / "run" / "journals" / "mlflow-journal.jsonl"
    assert set(stack.parts) == set(Part)
    assert {f"start.{part}" for part in Part} | {"images", "start"} <= set(stack.timings)

    stack.stop(keep_logs_in=tmp_path / "logs")
    assert engine.things == []
    assert not root.exists()
    assert (tmp_path / "logs" / "proxy.log").read_text("utf-8") == "proxy says hello\n"


def test_a_failed_start_names_the_part_shows_its_log_and_leaves_nothing(tmp_path: Path) -> None:
    engine = FakeEngine(crash=("auth",))
    stack = DockerStack(StackDefinition(), client=engine)
    with pytest.raises(StackError, match=r"auth exited with code 2 while starting") as caught:
        stack.start()
    assert "hk_live_cccc" not in str(caught.value)  # the log tail is redacted
    assert engine.things == []
    assert stack.root is not None and not stack.root.exists()
    assert "proxy" not in engine.started  # it waits for a healthy auth service


def test_a_missing_scenario_key_fails_after_start_and_cleans_up(engine: FakeEngine) -> None:
    stack = DockerStack(StackDefinition(scenario_key_name="nobody"), client=engine)
    with pytest.raises(StackError, match="seeded no key named 'nobody'"):
        stack.start()
    assert engine.things == []


def test_without_journals_the_proxy_talks_to_the_parts(engine: FakeEngine) -> None:
    stack = DockerStack(StackDefinition(with_journals=False), client=engine)
    endpoints = stack.start()
    proxy = engine.container("proxy")
    assert proxy.options["environment"]["HOKUSAI_AUTH_SERVICE_URL"] == "http://auth:8001"
    assert "auth-journal" not in engine.started and endpoints.auth_journal is None
    stack.stop()


def test_the_s3_profile_waits_for_its_bucket(engine: FakeEngine) -> None:
    stack = DockerStack(StackDefinition(), client=engine, profiles=("s3",))
    stack.start()
    assert engine.started.index("mlflow") > engine.started.index("minio-bucket") > engine.started.index("minio")
    assert "ghcr.io/mlflow/mlflow:v3.17.2-full" in engine.pulled
    stack.stop()
    assert engine.things == []


def test_a_users_proxy_image_replaces_the_reference_proxy(engine: FakeEngine) -> None:
    stack = DockerStack(StackDefinition(), "registry.example.com/team/proxy:1.2.3", client=engine)
    stack.start()
    proxy = engine.container("proxy")
    assert proxy.options["image"] == "registry.example.com/team/proxy:1.2.3"
    assert "command" not in proxy.options and "user" not in proxy.options  # the image's own
    assert "registry.example.com/team/proxy:1.2.3" in engine.pulled
    stack.stop()


def test_host_networking_binds_loopback_and_names_the_services(engine: FakeEngine) -> None:
    stack = DockerStack(StackDefinition(), client=engine, network="host", run_id="abc")
    compose = load_compose(COMPOSE_FILE, {"HOKUSAI_SEED_KEY": "k", "HOKUSAI_ADMIN_TOKEN": "t",
                                          "HOKUSAI_BIND_HOST": "127.0.0.1"})
    services = compose.active()
    options = stack.container_options(services["auth"], services)
    assert options["network_mode"] == "host" and "ports" not in options and "network" not in options
    assert options["extra_hosts"]["mlflow"] == "127.0.0.1"
    assert options["command"][options["command"].index("--host") + 1] == "127.0.0.1"


def test_the_environment_chooses_images_and_network(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_MLFLOW_IMAGE", "local/mlflow:3.17.2")
    monkeypatch.setenv("HOKUSAI_BASE_IMAGE", "local/python:3.11")
    monkeypatch.setenv("HOKUSAI_PROXY_IMAGE", "")  # empty: the reference proxy, as if unset
    monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "host")
    monkeypatch.setattr(DockerStack, "_check_ports_free", lambda self, services: None)  # the host's ports are not ours
    stack = DockerStack(StackDefinition(), client=engine)
    endpoints = stack.start()
    assert engine.pulled == ["local/python:3.11", "local/mlflow:3.17.2"]
    assert engine.built[0]["buildargs"] == {"BASE_IMAGE": "local/python:3.11"}
    assert engine.built[0]["network_mode"] == "host"  # a build must not use the bridge either
    assert engine.container("mlflow").options["image"] == "local/mlflow:3.17.2"
    assert engine.container("proxy").options["image"] == "hokusai-contracts/stack:0.1.0"
    assert all(t.options["network_mode"] == "host" for t in engine.things if isinstance(t, FakeContainer))
    assert not [t for t in engine.things if t.kind == "network"]
    assert endpoints.mlflow_url == f"http://127.0.0.1:{DEFAULT_PORTS[Part.MLFLOW]}"
    stack.stop()
    assert engine.things == []


def test_explicit_arguments_win_over_the_environment(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_PROXY_IMAGE", "env/proxy:1")
    monkeypatch.setenv("HOKUSAI_MLFLOW_IMAGE", "env/mlflow:1")
    monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "host")
    stack = DockerStack(StackDefinition(), "mine/proxy:2", network="bridge", client=engine,
                        variables={"HOKUSAI_MLFLOW_IMAGE": "mine/mlflow:2"})
    stack.start()
    assert engine.container("proxy").options["image"] == "mine/proxy:2"
    assert engine.container("mlflow").options["image"] == "mine/mlflow:2"
    assert [t.kind for t in engine.things].count("network") == 1
    stack.stop()


def test_a_bad_network_setting_stops_before_the_engine_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "overlay")
    engine = FakeEngine()
    with pytest.raises(UsageError, match=r"^HOKUSAI_DOCKER_NETWORK: .*'overlay'") as caught:
        DockerStack(StackDefinition(), client=engine).start()
    assert "\n" not in str(caught.value)
    assert engine.things == [] and engine.built == []


def test_the_context_manager_removes_the_stack_when_the_body_fails(engine: FakeEngine) -> None:
    with pytest.raises(RuntimeError, match="scenario broke"):
        with running_docker_stack(StackDefinition(), client=engine) as stack:
            assert stack.endpoints is not None
            raise RuntimeError("scenario broke")
    assert engine.things == []


def test_compose_up_publishes_the_default_ports_and_compose_down_removes_it(engine: FakeEngine,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DockerStack, "_check_ports_free", lambda self, services: None)  # the host's ports are not ours
    stack = compose_up(client=engine)
    assert stack.root is not None and stack.root.exists()
    for part in Part:
        port = DEFAULT_PORTS[part]
        assert engine.container(part.value).options["ports"] == {f"{port}/tcp": ("127.0.0.1", port)}
    with pytest.raises(StackError, match="already up"):
        compose_up(client=engine)
    removed = compose_down(client=engine)
    assert engine.things == [] and not stack.root.exists()
    assert f"folder {stack.root}" in removed and f"container hokusai-{stack.run_id}-proxy" in removed


# -- a real engine ---------------------------------------------------------------------------------


@pytest.fixture
def real_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    client, reason = connect()
    if client is None:
        pytest.skip(reason or "no Docker engine")
    # Host networking unless told otherwise: engines in CI sandboxes often cannot make or use bridge
    # networks. The images come from the environment as for `make` (HOKUSAI_MLFLOW_IMAGE, ...).
    if not os.environ.get("HOKUSAI_DOCKER_NETWORK"):
        monkeypatch.setenv("HOKUSAI_DOCKER_NETWORK", "host")
    yield client
    client.close()


def _labelled(client: Any, run_id: str) -> list[str]:
    label = {"label": f"{LABEL_RUN}={run_id}"}
    return ([c.name for c in client.containers.list(all=True, filters=label)]
            + [n.name for n in client.networks.list(filters=label)]
            + [v.name for v in client.volumes.list(filters=label)])


def _everything(client: Any) -> dict[str, set[str]]:
    """What `docker ps -a`, `docker network ls` and `docker volume ls` list."""
    return {"containers": {c.id for c in client.containers.list(all=True)},
            "networks": {n.id for n in client.networks.list()},
            "volumes": {v.name for v in client.volumes.list()}}


@pytest.mark.docker
@pytest.mark.slow
def test_the_docker_stack_starts_healthy_and_leaves_nothing(real_engine: Any) -> None:
    stack = DockerStack(StackDefinition(), client=real_engine)
    try:
        endpoints = stack.start()
        for part, running in stack.parts.items():
            answer = httpx.get(f"{running.url}{HEALTH_PATHS[part]}", timeout=5)
            assert answer.status_code in ((200, 503) if part is Part.PROXY else (200,)), part
        answer = httpx.get(endpoints.proxy_url + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                           headers={"Authorization": f"Bearer {endpoints.api_key}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        if stack.network == "host":
            assert stack.parts[Part.MLFLOW].url == f"http://127.0.0.1:{DEFAULT_PORTS[Part.MLFLOW]}"
    finally:
        stack.stop()
    assert _labelled(real_engine, stack.run_id) == []


@pytest.mark.docker
@pytest.mark.slow
def test_a_failed_docker_start_leaves_nothing(real_engine: Any) -> None:
    stack = DockerStack(StackDefinition(scenario_key_name="nobody"), client=real_engine)
    with pytest.raises(StackError, match="nobody"):
        stack.start()
    assert _labelled(real_engine, stack.run_id) == []


@pytest.mark.docker
@pytest.mark.slow
def test_a_local_run_on_docker_passes_and_leaves_the_engine_as_it_was(real_engine: Any, tmp_path: Path) -> None:
    """`make contract-local STACK=docker` without the fuzzing: scenario, hop journals, faults, reports."""
    from hokusai_contracts.run.local import LocalOptions, run_local

    before = _everything(real_engine)
    options = LocalOptions(report_dir=tmp_path, stack="docker", suites=[], artifact_mb=0)
    report = run_local(options, out=lambda line: None)
    assert report.verdict == "pass", [(f.kind, f.observed) for f in report.findings if not f.known]
    assert {"contract-report.json", "contract-report.md", "junit.xml"} <= {p.name for p in tmp_path.iterdir()}
    assert {f"{part}.log" for part in Part} <= {p.name for p in (tmp_path / "logs").iterdir()}
    assert any(check.suite == "faults" for check in report.checks)
    assert _everything(real_engine) == before
