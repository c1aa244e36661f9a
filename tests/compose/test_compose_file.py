"""The compose file, checked without an engine: it parses, pins every image, publishes on loopback
only, and says what the process stack's definition says. A drifted copy is caught."""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

import pytest

from hokusai_contracts.journal.recording import FaultMode
from hokusai_contracts.stack.compose_file import (
    COMPOSE_FILE,
    JOURNAL_FAULTS,
    MLFLOW_DOCKERFILE,
    ComposeFileError,
    RunSecrets,
    check_compose,
    interpolate,
    load_compose,
    mlflow_version,
    pinned,
    stack_variables,
    variable_defaults,
)
from hokusai_contracts.stack.definition import (
    DEFAULT_PORTS,
    HEALTH_PATHS,
    MLFLOW_FAULTS,
    Part,
    StackDefinition,
    project_root,
)

SECRETS = RunSecrets(seed_key="hk_live_" + "a" * 32, postgres_password="pg" * 8, minio_password="mn" * 8)
#: Variables a user chooses; every other one the runner sets from the definition.
USER_CHOICES = {"HOKUSAI_BASE_IMAGE", "HOKUSAI_PROXY_IMAGE", "HOKUSAI_RUN_DIR", "HOKUSAI_UID", "HOKUSAI_GID"}


def test_the_compose_file_agrees_with_the_stack_definition() -> None:
    assert check_compose() == []


def test_it_has_every_part_of_the_process_stack_on_its_default_port() -> None:
    compose = load_compose(placeholders=True)
    for part in Part:
        service = compose.services[part.value]
        assert [(p.host_ip, p.host_port, p.container_port) for p in service.ports] == [
            ("127.0.0.1", DEFAULT_PORTS[part], DEFAULT_PORTS[part])]
        assert service.healthcheck is not None
        assert f"http://127.0.0.1:{DEFAULT_PORTS[part]}{HEALTH_PATHS[part]}'" in " ".join(service.healthcheck.test)


def test_every_image_is_pinned_and_mlflow_is_the_pinned_version() -> None:
    compose = load_compose(placeholders=True)
    for service in compose.services.values():
        assert pinned(service.image), service.name
    assert compose.services["mlflow"].image == f"ghcr.io/mlflow/mlflow:v{mlflow_version()}"
    assert mlflow_version() == "3.17.2"  # pyproject.toml pins mlflow==3.17.2


def test_only_loopback_ports_are_published() -> None:
    for service in load_compose(placeholders=True).services.values():
        for port in service.ports:
            assert port.host_ip == "127.0.0.1", service.name


def test_no_secret_is_written_in_the_compose_folder() -> None:
    for path in (COMPOSE_FILE.parent).iterdir():
        if path.is_file() and path.name != ".env":  # .env is the user's own, git-ignored
            assert not re.search(r"hk_(?:live|test)_[A-Za-z0-9]{32}", path.read_text("utf-8")), path.name


def test_the_runner_sets_every_variable_but_the_users_choices() -> None:
    import yaml

    used = set(variable_defaults(yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))))
    set_by_runner = set(stack_variables(StackDefinition(), secrets=SECRETS))
    assert used - set_by_runner == USER_CHOICES
    assert set_by_runner <= used


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("$A/$$B", {"A": "x"}, "x/$B"),
        ("${A:?need A}", {"A": "x"}, "x"),
    ],
)
def test_interpolation_follows_compose(text: str, variables: dict[str, str], expected: str) -> None:
    missing: list[str] = []
    assert interpolate(text, variables, missing) == expected
    assert missing == []


def test_a_missing_secret_is_an_error_naming_it() -> None:
    with pytest.raises(ComposeFileError, match="HOKUSAI_ADMIN_TOKEN.*HOKUSAI_SEED_KEY"):
        load_compose(COMPOSE_FILE, {})


def test_a_runs_variables_reach_the_services() -> None:
    definition = StackDefinition(auth_profile="contract")
    variables = stack_variables(definition, secrets=SECRETS, run_dir=Path("/tmp/run"), proxy_image="me/proxy:1.0",
                                user=(1234, 5678))
    services = load_compose(COMPOSE_FILE, variables).services
    auth, proxy = services["auth"], services["proxy"]
    assert auth.option("--profile") == "contract"
    assert auth.environment["FAKE_AUTH_ADMIN_TOKEN"] == definition.admin_token
    assert auth.environment["FAKE_AUTH_API_KEYS"] == f"{SECRETS.seed_key}@platform"
    assert auth.user == "1234:5678"
    assert [m.source for m in auth.volumes] == [str(definition.seed_file.resolve()), "/tmp/run"]
    assert proxy.image == "me/proxy:1.0"
    assert proxy.environment["HOKUSAI_AUTH_SERVICE_URL"] == "http://auth-journal:8101"
    assert proxy.environment["MLFLOW_SERVER_URL"] == "http://mlflow-journal:8102"
    assert {k: proxy.environment[k] for k in definition.proxy_env} == definition.proxy_env


@pytest.mark.parametrize(
    ("definition", "auth_url", "mlflow_url", "journal_fault"),
    [
        (StackDefinition(with_journals=False), "http://auth:8001", "http://mlflow:5000", "none"),
        (StackDefinition(with_journals=False, mlflow_fault="slow"), "http://auth-journal:8101",
         "http://mlflow-journal:8102", "slow"),
        (StackDefinition(mlflow_fault="down"), "http://auth-journal:8101", "http://127.0.0.1:1", "none"),
    ],
    ids=["no-journals", "slow-mlflow", "mlflow-down"],
)
def test_journals_and_faults_follow_the_definition(definition: StackDefinition, auth_url: str, mlflow_url: str,
                                                   journal_fault: str) -> None:
    services = load_compose(COMPOSE_FILE, stack_variables(definition, secrets=SECRETS)).services
    assert services["proxy"].environment["HOKUSAI_AUTH_SERVICE_URL"] == auth_url
    assert services["proxy"].environment["MLFLOW_SERVER_URL"] == mlflow_url
    assert services["mlflow-journal"].option("--fault") == journal_fault


@pytest.mark.parametrize("fault", JOURNAL_FAULTS)
def test_every_mlflow_fault_of_the_definition_reaches_the_journal(fault: str) -> None:
    # The journal in the container takes the fault on its command line: it must know each one.
    assert fault in {mode.value for mode in FaultMode}
    definition = StackDefinition(with_journals=False, mlflow_fault=fault)
    services = load_compose(COMPOSE_FILE, stack_variables(definition, secrets=SECRETS)).services
    assert services["mlflow-journal"].option("--fault") == fault
    assert services["proxy"].environment["MLFLOW_SERVER_URL"] == "http://mlflow-journal:8102"


def test_the_journal_carries_every_mlflow_fault_but_down() -> None:
    assert set(JOURNAL_FAULTS) == set(MLFLOW_FAULTS) - {"none", "down"}


@pytest.mark.parametrize(
    ("profile", "backend", "artifacts", "extra_services"),
    [
        ("postgres", "postgresql+psycopg2://mlflow:" + SECRETS.postgres_password + "@postgres:5432/mlflow",
         "/mlflow/artifacts", {"postgres"}),
        ("s3", "sqlite:////mlflow/mlflow.db", "s3://mlflow-artifacts", {"minio", "minio-bucket"}),
    ],
)
def test_profiles_swap_mlflows_stores(profile: str, backend: str, artifacts: str, extra_services: set[str]) -> None:
    compose = load_compose(COMPOSE_FILE, stack_variables(StackDefinition(), secrets=SECRETS, profiles=[profile]))
    mlflow = compose.services["mlflow"]
    assert mlflow.environment["MLFLOW_BACKEND_STORE_URI"] == backend
    assert mlflow.environment["MLFLOW_ARTIFACTS_DESTINATION"] == artifacts
    assert mlflow.image == f"ghcr.io/mlflow/mlflow:v{mlflow_version()}-full"
    assert set(compose.active([profile])) - set(compose.active()) == extra_services


# -- drift: a changed copy of the file is caught ---------------------------------------------------


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    """compose/ copied with the layout the file's relative paths expect (../mocks/...)."""
    folder = tmp_path / "compose"
    shutil.copytree(COMPOSE_FILE.parent, folder, ignore=shutil.ignore_patterns(".run"))
    (tmp_path / "mocks").symlink_to(project_root() / "mocks")
    return folder / COMPOSE_FILE.name


def test_an_unchanged_copy_passes(compose_copy: Path) -> None:
    assert check_compose(compose_copy) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param('"127.0.0.1:5000:5000"', '"127.0.0.1:5001:5000"', "DEFAULT_PORTS", id="mlflow-port"),
        pytest.param('"127.0.0.1:8080:8080"', '"8080:8080"', "beyond loopback", id="proxy-all-interfaces"),
        pytest.param('"127.0.0.1:8001:8001"', '"0.0.0.0:8001:8001"', "beyond loopback", id="auth-any-address"),
        pytest.param('- "8101"', '- "8111"', "listens on port 8111", id="journal-listen-port"),
        pytest.param("postgres:16.4-alpine", "postgres:latest", "not pinned", id="latest-tag"),
        pytest.param("image: minio/minio:RELEASE.2025-04-22T22-12-26Z\n    profiles",
                     "image: minio/minio\n    profiles", "not pinned", id="untagged-image"),
        pytest.param("ghcr.io/mlflow/mlflow:v3.17.2}", "ghcr.io/mlflow/mlflow:v3.16.0}", "pinned MLflow is",
                     id="mlflow-version"),
        pytest.param("${HOKUSAI_SERVICE_ID:-platform}", "${HOKUSAI_SERVICE_ID:-ml-platform}", "HOKUSAI_SERVICE_ID",
                     id="service-id"),
        pytest.param("${HOKUSAI_AUTH_PROFILE:-production}", "${HOKUSAI_AUTH_PROFILE:-contract}", "auth profile",
                     id="auth-profile"),
        pytest.param("8080/api/mlflow/health/mlflow", "8080/mlflow/health/mlflow", "HEALTH_PATHS",
                     id="proxy-health-path"),
        pytest.param('PROXY_MLFLOW_TIMEOUT_S: "3"', 'PROXY_MLFLOW_TIMEOUT_S: "30"', "PROXY_MLFLOW_TIMEOUT_S",
                     id="proxy-timeout"),
        pytest.param("- proxy->auth", "- proxy-auth", "--hop", id="journal-hop"),
        pytest.param("http://auth:8001\n", "http://auth:8000\n", "--upstream", id="journal-upstream"),
        pytest.param('"--workers", "1"', '"--workers", "4"', "--workers 1", id="mlflow-workers"),
        pytest.param("${HOKUSAI_SEED_FILE:-../mocks/fake_auth/keys.yaml}", "${HOKUSAI_SEED_FILE:-./keys.yaml}",
                     "seed", id="seed-file"),
        pytest.param("${HOKUSAI_SEED_KEY:?set HOKUSAI_SEED_KEY (see compose/.env.example)}",
                     "${HOKUSAI_SEED_KEY:-hk_live_" + "b" * 32 + "}", "a secret must come from the run",
                     id="committed-key"),
        pytest.param("${HOKUSAI_BASE_IMAGE:-python:3.11-slim}", "${HOKUSAI_BASE_IMAGE:-python}", "not pinned",
                     id="unpinned-base-image"),
        pytest.param("  mlflow:\n    image:", "  mlflow:\n    restart: always\n    image:", "does not support",
                     id="unsupported-key"),
        pytest.param("services:\n", "services:\n  - [\n", "not valid YAML", id="unparsable"),
    ],
)
def test_a_drifted_copy_is_detected(compose_copy: Path, old: str, new: str, problem: str) -> None:
    text = compose_copy.read_text("utf-8")
    assert old in text
    compose_copy.write_text(text.replace(old, new, 1), "utf-8")
    problems = check_compose(compose_copy)
    assert any(problem in p for p in problems), problems


def test_an_undocumented_variable_is_detected(compose_copy: Path) -> None:
    text = compose_copy.read_text("utf-8").replace('AWS_ACCESS_KEY_ID: hokusai', 'AWS_ACCESS_KEY_ID: ${HOKUSAI_X:-a}')
    compose_copy.write_text(text, "utf-8")
    assert "variable HOKUSAI_X is not documented in .env.example" in check_compose(compose_copy)


def test_a_stale_mlflow_version_in_the_docs_is_detected(compose_copy: Path) -> None:
    example = compose_copy.parent / ".env.example"
    example.write_text(example.read_text("utf-8").replace("v3.17.2-full", "v3.9.0-full"), "utf-8")
    assert any("names MLflow 3.9.0" in p for p in check_compose(compose_copy))


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param("ARG MLFLOW_VERSION=3.17.2", "ARG MLFLOW_VERSION=3.16.0", "pinned MLflow is 3.17.2",
                     id="mlflow-version"),
        pytest.param("ARG BASE_IMAGE=python:3.11-slim", "ARG BASE_IMAGE=python:3.12-slim", "one base for both",
                     id="base-image"),
    ],
)
def test_a_drifted_mlflow_dockerfile_is_detected(compose_copy: Path, old: str, new: str, problem: str) -> None:
    dockerfile = compose_copy.parent / MLFLOW_DOCKERFILE
    text = dockerfile.read_text("utf-8")
    assert old in text
    dockerfile.write_text(text.replace(old, new, 1), "utf-8")
    assert any(problem in p for p in check_compose(compose_copy)), check_compose(compose_copy)


# -- the image -------------------------------------------------------------------------------------


def _dockerfile_packages() -> list[str]:
    text = (COMPOSE_FILE.parent / "Dockerfile").read_text("utf-8")
    line = re.search(r"pip install -c constraints\.txt ([^\n\\]+)", text)
    assert line, "the Dockerfile installs its dependencies with -c constraints.txt"
    return line.group(1).split()


def test_the_images_dependencies_are_pinned_by_the_lock() -> None:
    lock = {re.split(r"[=<>]", line)[0].lower().replace("_", "-")
            for line in (project_root() / "constraints.txt").read_text("utf-8").splitlines()
            if line and not line.startswith("#")}
    assert {name.lower() for name in _dockerfile_packages()} <= lock


def test_the_image_has_every_library_its_parts_import() -> None:
    # The image installs the project without its heavy dependencies: a new import in the fakes or the
    # journal must be added to the Dockerfile's list, or the containers fail at start.
    distribution = {"yaml": "pyyaml", "pydantic_settings": "pydantic-settings"}
    sources = [*(project_root() / "mocks").rglob("*.py"), *(project_root() / "src" / "hokusai_contracts").glob("_*.py"),
               *(project_root() / "src" / "hokusai_contracts" / "domain").glob("*.py"),
               project_root() / "src" / "hokusai_contracts" / "journal" / "recording.py"]
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
