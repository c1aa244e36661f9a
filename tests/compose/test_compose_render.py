"""The compose files are the stack's plan rendered: the committed ones match, and what they say holds."""

from __future__ import annotations

import ast
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from hokusai_contracts.stack.compose_render import (
    COMPOSE_DIR,
    POSTGRES_IMAGE,
    S3_IMAGE,
    STACK_IMAGE,
    Network,
    RunSecrets,
    bucket_health_command,
    check_rendered,
    compose_file,
    compose_site,
    health_command,
    mlflow_version,
    render,
)
from hokusai_contracts.stack.definition import (
    CORE_PARTS,
    DEFAULT_PORTS,
    HEALTH,
    Expect,
    HealthRule,
    Part,
    StackDefinition,
)
from hokusai_contracts.stack.plan import build_plan

_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _document(network: Network) -> dict[str, Any]:
    loaded = yaml.safe_load(compose_file(network).read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _default(text: str) -> str:
    """A compose string with every variable at its default, as `docker compose config` would give it."""
    return _VARIABLE.sub(lambda m: m.group(3) or "", text)


def test_the_committed_files_are_what_the_plan_renders() -> None:
    assert check_rendered() == []


def test_a_hand_edited_file_is_reported(tmp_path: Path) -> None:
    for network in Network:
        shutil.copy(compose_file(network), tmp_path / compose_file(network).name)
    edited = tmp_path / "docker-compose.yml"
    edited.write_text(edited.read_text("utf-8").replace("'5000'", "'5001'", 1), "utf-8")
    (problem,) = check_rendered(tmp_path)
    assert problem.startswith(f"{edited} differs from what the stack plan renders")
    assert "hokusai-contracts compose render" in problem


def test_compose_render_check_passes_on_the_committed_files() -> None:
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "compose", "render", "--check"],
                               capture_output=True, text=True, timeout=60)
    assert (completed.returncode, completed.stdout) == (0, "")


@pytest.mark.parametrize("network", list(Network))
def test_every_part_is_a_service_with_its_port_and_health_rule(network: Network) -> None:
    services = _document(network)["services"]
    for part in CORE_PARTS:
        service = services[part.value]
        port = DEFAULT_PORTS[part]
        if network is Network.BRIDGE:
            assert [_default(p) for p in service["ports"]] == [f"127.0.0.1:{port}:{port}"]
            assert "network_mode" not in service
        else:
            assert service["network_mode"] == "host" and "ports" not in service
        if part is Part.PROXY:
            assert "healthcheck" not in service  # asked from the host: a user's image may have no python
            assert service["environment"]["PORT"] == str(port)
        else:
            assert service["healthcheck"]["test"] == health_command(HEALTH[part], port)
            assert service["command"][service["command"].index("--port") + 1] == str(port)


def test_every_image_is_pinned_and_mlflow_is_the_pinned_version() -> None:
    for network in Network:
        for name, service in _document(network)["services"].items():
            image = _default(service["image"])
            repository, _, tag = image.rpartition(":")
            assert repository and tag not in ("", "latest") and "/" not in tag, name
    mlflow = _document(Network.BRIDGE)["services"]["mlflow"]
    assert _default(mlflow["image"]) == f"ghcr.io/mlflow/mlflow:v{mlflow_version()}"
    assert mlflow_version() == "3.17.2"  # pyproject.toml pins mlflow==3.17.2


@pytest.mark.parametrize("network", list(Network))
def test_the_store_profiles_are_productions_postgresql_15_and_motos_own_image(network: Network) -> None:
    import importlib.metadata

    services = _document(network)["services"]
    postgres, s3 = services["postgres"], services["s3"]
    assert postgres["image"] == POSTGRES_IMAGE and POSTGRES_IMAGE.split(":")[1].startswith("15-")
    assert "--locale=en_US.UTF-8" in postgres["environment"]["POSTGRES_INITDB_ARGS"]  # RDS's collation
    # moto's own image at the moto the lock pins (the process stack's S3 server): one server, two ways.
    assert s3["image"] == S3_IMAGE == f"motoserver/moto:{importlib.metadata.version('moto')}"
    port = DEFAULT_PORTS[Part.S3]
    bind = "0.0.0.0" if network is Network.BRIDGE else "127.0.0.1"
    assert s3["entrypoint"] == ["/usr/local/bin/moto_server", "-H", bind, "-p", str(port)]
    assert s3["healthcheck"]["test"] == bucket_health_command(port) and "environment" not in s3  # no keys there
    assert services["mlflow"]["depends_on"]["s3"] == {"condition": "service_healthy", "required": False}


def test_motos_health_check_makes_the_bucket_then_finds_it() -> None:
    """Against a real moto S3 server: healthy only with the bucket there, and asking twice is fine."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        bucket = f"http://127.0.0.1:{port}{HEALTH[Part.S3].path}"
        with pytest.raises(urllib.error.HTTPError):  # no bucket yet: the rule alone would wait forever
            urllib.request.urlopen(bucket, timeout=5)
        _, python, flag, code = bucket_health_command(port)
        for _ in range(2):
            completed = subprocess.run([sys.executable, flag, code], capture_output=True, timeout=30)
            assert completed.returncode == 0, completed.stderr
        assert urllib.request.urlopen(bucket, timeout=5).status == 200
    finally:
        server.stop()


def test_secrets_have_no_default_and_no_key_is_written_in_the_compose_folder() -> None:
    text = compose_file(Network.BRIDGE).read_text("utf-8")
    for name in ("HOKUSAI_ADMIN_TOKEN", "HOKUSAI_SEED_KEY"):
        assert {m.group(2) for m in _VARIABLE.finditer(text) if m.group(1) == name} == {":?"}, name
    for path in COMPOSE_DIR.iterdir():
        if path.is_file() and path.name != ".env":  # .env is the user's own, git-ignored
            assert not re.search(r"hk_(?:live|test)_[A-Za-z0-9]{32}", path.read_text("utf-8")), path.name


def test_a_runs_plan_records_its_values_of_the_files_variables() -> None:
    run_secrets = RunSecrets.generate()
    definition = StackDefinition(auth_profile="contract", service_id="website", mlflow_fault="slow", fault_delay_s=4)
    site = compose_site(Network.BRIDGE, run_secrets, profiles=["postgres"])
    build_plan(definition, site)
    assert site.variables["HOKUSAI_AUTH_PROFILE"] == "contract"
    assert site.variables["HOKUSAI_SERVICE_ID"] == "website"
    assert site.variables["HOKUSAI_MLFLOW_JOURNAL_FAULT"] == "slow"
    assert site.variables["HOKUSAI_FAULT_DELAY_S"] == "4"
    assert site.variables["HOKUSAI_ADMIN_TOKEN"] == definition.admin_token
    assert site.variables["HOKUSAI_SEED_KEY"] == run_secrets.seed_key
    assert site.variables["HOKUSAI_MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:")
    used = {m.group(1) for m in _VARIABLE.finditer(render(Network.BRIDGE))}
    assert set(site.variables) <= used


def test_every_variable_is_documented_in_the_env_example() -> None:
    documented = (COMPOSE_DIR / ".env.example").read_text("utf-8")
    for network in Network:
        for name in {m.group(1) for m in _VARIABLE.finditer(render(network))}:
            assert re.search(rf"^#?\s*{name}=", documented, re.MULTILINE), name


def test_the_docs_beside_the_files_name_the_pinned_mlflow() -> None:
    for name in (".env.example", "README.md", "mlflow.Dockerfile"):
        text = (COMPOSE_DIR / name).read_text("utf-8")
        for tag in re.findall(r"(?:ghcr\.io/mlflow/mlflow:v|mlflow:|MLFLOW_VERSION=)(\d+\.\d+\.\d+)", text):
            assert tag == mlflow_version(), name
    base = {re.search(r"^ARG BASE_IMAGE=(\S+)", (COMPOSE_DIR / f).read_text("utf-8"), re.MULTILINE).group(1)  # type: ignore[union-attr]
            for f in ("Dockerfile", "mlflow.Dockerfile")}
    assert base == {"python:3.11-slim"}  # one base for both, the default of the build argument


def test_the_images_default_command_is_the_plans_reference_proxy() -> None:
    plan = build_plan(StackDefinition(), compose_site(Network.BRIDGE))
    cmd = re.search(r"^CMD (\[.*\])$", (COMPOSE_DIR / "Dockerfile").read_text("utf-8"), re.MULTILINE)
    assert cmd is not None and tuple(ast.literal_eval(cmd.group(1))) == plan.parts[Part.PROXY].argv
    assert _document(Network.BRIDGE)["services"]["auth"]["image"] == STACK_IMAGE


# -- the container health check, run here against a real server ---------------------------------------


@pytest.fixture
def answering() -> Iterator[tuple[int, list[int]]]:
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1]), status
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("expect", "status", "healthy"),
                         [(Expect.OK, 200, True), (Expect.OK, 503, False), (Expect.OK, 204, False),
                          (Expect.ANSWER, 503, True), (Expect.ANSWER, 200, True)])
def test_the_container_health_check_follows_the_rule(answering: tuple[int, list[int]], expect: Expect, status: int,
                                                     healthy: bool) -> None:
    port, answer = answering
    answer[0] = status
    rule = HealthRule("/health", expect)
    _, python, flag, code = health_command(rule, port)
    completed = subprocess.run([sys.executable, flag, code], capture_output=True, timeout=30)
    assert (completed.returncode == 0) is healthy is rule.accepts(status)


# -- the image -------------------------------------------------------------------------------------


def _dockerfile_packages() -> list[str]:
    text = (COMPOSE_DIR / "Dockerfile").read_text("utf-8")
    line = re.search(r"pip install -c constraints\.txt ([^\n\\]+)", text)
    assert line, "the Dockerfile installs its dependencies with -c constraints.txt"
    return line.group(1).split()


def test_the_images_dependencies_are_pinned_by_the_lock() -> None:
    lock = {re.split(r"[=<>]", line)[0].lower().replace("_", "-")
            for line in (COMPOSE_DIR.parent / "constraints.txt").read_text("utf-8").splitlines()
            if line and not line.startswith("#")}
    assert {name.lower() for name in _dockerfile_packages()} <= lock


def test_the_image_has_every_library_its_parts_import() -> None:
    # The image installs the project without its heavy dependencies: a new import in the fakes or the
    # journal must be added to the Dockerfile's list, or the containers fail at start.
    root = COMPOSE_DIR.parent
    distribution = {"yaml": "pyyaml", "pydantic_settings": "pydantic-settings"}
    sources = [*(root / "mocks").rglob("*.py"), *(root / "src" / "hokusai_contracts").glob("_*.py"),
               *(root / "src" / "hokusai_contracts" / "domain").glob("*.py"),
               root / "src" / "hokusai_contracts" / "journal" / "recording.py"]
    imported = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"hokusai_mocks", "hokusai_contracts", "__future__"}
    installed = {name.lower() for name in _dockerfile_packages()}
    assert {distribution.get(m, m) for m in third_party} <= installed
