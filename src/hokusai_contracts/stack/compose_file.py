"""The compose file, read and checked against the stack definition, without an engine.

``compose/docker-compose.yml`` is a template: literal ports and settings, plus a few
``${HOKUSAI_*}`` variables for what changes per run (secrets, the proxy image, the profiles'
stores). ``stack_variables`` derives a run's variables from a ``StackDefinition``;
``load_compose`` interpolates the file and parses the subset of the compose format the docker
runner drives; ``check_compose`` lists every way the file has drifted from the definition (the
CI check: it parses, every image is pinned, only loopback ports are published, ports, health
paths and settings are the process stack's, MLflow is the pinned version).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.redact import register_secrets
from hokusai_contracts.stack.definition import (
    DEFAULT_PORTS,
    HEALTH_PATHS,
    JOURNAL_FAULTS,
    Part,
    StackDefinition,
    project_root,
)

__all__ = [
    "COMPOSE_FILE",
    "JOURNALS",
    "PROFILES",
    "ComposeFile",
    "ComposeFileError",
    "RunSecrets",
    "ServiceSpec",
    "check_compose",
    "interpolate",
    "journals_needed",
    "load_compose",
    "mlflow_image",
    "mlflow_version",
    "pinned",
    "stack_variables",
    "variable_defaults",
]

COMPOSE_FILE = project_root() / "compose" / "docker-compose.yml"
PROFILES = ("postgres", "s3")
MLFLOW_IMAGE_REPOSITORY = "ghcr.io/mlflow/mlflow"
#: Beside the compose file: the official MLflow image rebuilt on a chosen base (no registry needed).
MLFLOW_DOCKERFILE = "mlflow.Dockerfile"
#: Inside the project's containers: the bind-mounted run folder and the seed file.
RUN_MOUNT = "/hokusai/run"
SEED_MOUNT = "/hokusai/seed/keys.yaml"
#: Each journal, the part it fronts and the hop it records (as the process stack starts them).
JOURNALS = {Part.AUTH_JOURNAL: (Part.AUTH, "proxy->auth"), Part.MLFLOW_JOURNAL: (Part.MLFLOW, "proxy->mlflow")}
#: Where the proxy sends MLflow calls when the definition says MLflow is down: nobody listens there.
UNREACHABLE_URL = "http://127.0.0.1:1"

_SERVICE_KEYS = {"image", "build", "entrypoint", "command", "environment", "ports", "volumes", "healthcheck",
                 "depends_on", "user", "profiles"}
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_KEY = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
_HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^'\"\s]*)")
_KEY_ALPHABET = string.ascii_letters + string.digits


class ComposeFileError(UsageError):
    """The compose file cannot be read, or uses what the docker runner cannot do."""


# -- the parsed file --------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: int | None
    container_port: int


@dataclass(frozen=True)
class Mount:
    source: str  # a volume name, or an absolute host path for a bind mount
    target: str
    read_only: bool
    bind: bool


@dataclass(frozen=True)
class Healthcheck:
    test: list[str]
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0


@dataclass(frozen=True)
class Build:
    context: Path
    dockerfile: str
    args: dict[str, str]
    target: str | None = None


@dataclass(frozen=True)
class Dependency:
    condition: str  # service_started | service_healthy | service_completed_successfully
    required: bool = True


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    build: Build | None = None
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    ports: list[Port] = field(default_factory=list)
    volumes: list[Mount] = field(default_factory=list)
    healthcheck: Healthcheck | None = None
    depends_on: dict[str, Dependency] = field(default_factory=dict)
    user: str | None = None
    profiles: tuple[str, ...] = ()

    def option(self, flag: str) -> str | None:
        """The value after ``flag`` in the command (``--port 5000``), if any."""
        argv = self.command or []
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


@dataclass(frozen=True)
class ComposeFile:
    path: Path
    services: dict[str, ServiceSpec]
    volumes: tuple[str, ...]

    def active(self, profiles: Iterable[str] = ()) -> dict[str, ServiceSpec]:
        """The services ``docker compose --profile ...`` would start."""
        wanted = set(profiles)
        return {name: s for name, s in self.services.items() if not s.profiles or wanted & set(s.profiles)}


# -- variables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSecrets:
    """Fresh per run: nothing of it is ever written to the repository."""

    seed_key: str
    postgres_password: str
    minio_password: str

    def __post_init__(self) -> None:
        register_secrets(self.seed_key, self.postgres_password, self.minio_password)

    @classmethod
    def generate(cls) -> RunSecrets:
        # The fake auth service takes hk_live_ + 32 letters and digits; hex passwords stay URL-safe.
        key = "hk_live_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        return cls(seed_key=key, postgres_password=secrets.token_hex(16), minio_password=secrets.token_hex(16))


def mlflow_version() -> str:
    """The installed MLflow's version, else the pin in pyproject.toml."""
    try:
        return metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        pin = re.search(r'"mlflow==([^"]+)"', (project_root() / "pyproject.toml").read_text("utf-8"))
        return pin.group(1) if pin else "unknown"


def mlflow_image(profiles: Iterable[str] = ()) -> str:
    # The database and S3 drivers are only in the official image's "-full" flavour (MLflow >= 3.9).
    flavour = "-full" if set(profiles) & set(PROFILES) else ""
    return f"{MLFLOW_IMAGE_REPOSITORY}:v{mlflow_version()}{flavour}"


def stack_variables(definition: StackDefinition, *, secrets: RunSecrets, run_dir: Path | None = None,
                    proxy_image: str | None = None, profiles: Iterable[str] = (), bind_host: str = "0.0.0.0",
                    user: tuple[int, int] | None = None) -> dict[str, str]:
    """The compose variables of one run, all derived from the definition (the one source of truth).

    Variables left out (``run_dir``, ``proxy_image``, ``user`` as None) keep the file's default.
    """
    d, profiles = definition, tuple(profiles)
    journals = journals_needed(d)
    auth_url = _url(Part.AUTH_JOURNAL if journals else Part.AUTH)
    mlflow_url = UNREACHABLE_URL if d.mlflow_fault == "down" else _url(Part.MLFLOW_JOURNAL if journals else Part.MLFLOW)
    variables = {
        "HOKUSAI_SEED_KEY": secrets.seed_key,
        "HOKUSAI_ADMIN_TOKEN": d.admin_token,
        "HOKUSAI_POSTGRES_PASSWORD": secrets.postgres_password,
        "HOKUSAI_MINIO_PASSWORD": secrets.minio_password,
        "HOKUSAI_SERVICE_ID": d.service_id,
        "HOKUSAI_AUTH_PROFILE": d.auth_profile,
        "HOKUSAI_MLFLOW_JOURNAL_FAULT": d.mlflow_fault if d.mlflow_fault in JOURNAL_FAULTS else "none",
        "HOKUSAI_FAULT_DELAY_S": f"{d.fault_delay_s:g}",
        "HOKUSAI_PROXY_AUTH_URL": auth_url,
        "HOKUSAI_PROXY_MLFLOW_URL": mlflow_url,
        "HOKUSAI_SEED_FILE": str(d.seed_file),
        "HOKUSAI_MLFLOW_IMAGE": mlflow_image(profiles),
        "HOKUSAI_MLFLOW_BACKEND_STORE_URI": (
            f"postgresql+psycopg2://mlflow:{secrets.postgres_password}@postgres:5432/mlflow"
            if "postgres" in profiles else "sqlite:////mlflow/mlflow.db"),
        "HOKUSAI_MLFLOW_ARTIFACTS_DESTINATION": "s3://mlflow-artifacts" if "s3" in profiles else "/mlflow/artifacts",
        "HOKUSAI_BIND_HOST": bind_host,
    }
    if run_dir is not None:
        variables["HOKUSAI_RUN_DIR"] = str(run_dir)
    if proxy_image is not None:
        variables["HOKUSAI_PROXY_IMAGE"] = proxy_image
    if user is not None:
        variables["HOKUSAI_UID"], variables["HOKUSAI_GID"] = str(user[0]), str(user[1])
    return variables


def journals_needed(definition: StackDefinition) -> bool:
    """As in the process stack: journals run when asked for, and when one carries the MLflow fault."""
    return definition.with_journals or definition.mlflow_fault in JOURNAL_FAULTS


def _url(part: Part) -> str:
    return f"http://{part.value}:{DEFAULT_PORTS[part]}"


#: Variables whose file default must be what a default StackDefinition gives (checked in CI).
_DERIVED = ("HOKUSAI_SERVICE_ID", "HOKUSAI_AUTH_PROFILE", "HOKUSAI_MLFLOW_JOURNAL_FAULT", "HOKUSAI_FAULT_DELAY_S",
            "HOKUSAI_PROXY_AUTH_URL", "HOKUSAI_PROXY_MLFLOW_URL", "HOKUSAI_SEED_FILE", "HOKUSAI_MLFLOW_IMAGE",
            "HOKUSAI_MLFLOW_BACKEND_STORE_URI", "HOKUSAI_MLFLOW_ARTIFACTS_DESTINATION", "HOKUSAI_BIND_HOST")
#: Variables that must never have a default in the file: they are secrets.
_SECRETS = ("HOKUSAI_SEED_KEY", "HOKUSAI_ADMIN_TOKEN")


def interpolate(text: str, variables: Mapping[str, str], missing: list[str], *, placeholders: bool = False) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``$$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op") or "", match.group("arg") or ""
        value = variables.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if not unset:
            return str(value)
        if op.endswith("-"):
            return arg
        if op.endswith("?"):
            if placeholders:
                return f"<{name}>"
            missing.append(f"{name} ({arg})" if arg else name)
            return ""
        return ""

    return _VARIABLE.sub(substitute, text)


def variable_defaults(data: Any) -> dict[str, set[str | None]]:
    """Every variable a parsed compose file uses, with the defaults its uses give (None: no default).

    Parsed, not raw text: a ``$NAME`` in a YAML comment is no variable.
    """
    found: dict[str, set[str | None]] = {}
    for match in (m for text in _strings(data) for m in _VARIABLE.finditer(text)):
        name = match.group("braced") or match.group("named")
        if name is None:
            continue
        op = match.group("op") or ""
        found.setdefault(name, set()).add(match.group("arg") if op.endswith("-") else None)
    return found


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)


# -- loading -------------------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE, variables: Mapping[str, str] | None = None, *,
                 placeholders: bool = False) -> ComposeFile:
    """Read, interpolate and parse the compose file.

    ``placeholders`` turns a required variable that is missing into ``<NAME>`` instead of an error
    (for checking the file without secrets).
    """
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ComposeFileError(f"cannot read the compose file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict):
        raise ComposeFileError(f"{path}: a compose file needs a `services:` mapping")
    missing: list[str] = []
    data = _interpolate_tree(raw, variables or {}, missing, placeholders)
    if missing:
        raise ComposeFileError(f"{path}: required variables not set: {', '.join(sorted(set(missing)))}")
    services = {str(name): _service(path, str(name), spec) for name, spec in data["services"].items()}
    for service in services.values():
        for dependency in service.depends_on:
            if dependency not in services:
                raise ComposeFileError(f"{path}: service {service.name!r} depends on unknown service {dependency!r}")
    volumes = tuple(str(name) for name in (data.get("volumes") or {}))
    return ComposeFile(path=path, services=services, volumes=volumes)


def _interpolate_tree(node: Any, variables: Mapping[str, str], missing: list[str], placeholders: bool) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables, missing, placeholders=placeholders)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables, missing, placeholders) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables, missing, placeholders) for key, value in node.items()}
    return node


def _service(path: Path, name: str, spec: Any) -> ServiceSpec:
    where = f"{path}: service {name!r}"
    if not isinstance(spec, dict):
        raise ComposeFileError(f"{where} must be a mapping")
    unsupported = sorted(set(spec) - _SERVICE_KEYS)
    if unsupported:
        raise ComposeFileError(f"{where} uses {', '.join(unsupported)}, which the docker runner does not "
                               f"support; use only {', '.join(sorted(_SERVICE_KEYS))}")
    if not spec.get("image"):
        raise ComposeFileError(f"{where} needs an `image:` (also when it has `build:`: the image's name)")
    return ServiceSpec(
        name=name,
        image=str(spec["image"]),
        build=_build(path, spec["build"]) if spec.get("build") else None,
        entrypoint=_argv(spec.get("entrypoint")),
        command=_argv(spec.get("command")),
        environment=_environment(spec.get("environment")),
        ports=[_port(where, p) for p in spec.get("ports") or []],
        volumes=[_mount(path, where, v) for v in spec.get("volumes") or []],
        healthcheck=_healthcheck(where, spec["healthcheck"]) if spec.get("healthcheck") else None,
        depends_on=_depends_on(spec.get("depends_on")),
        user=str(spec["user"]) if spec.get("user") is not None else None,
        profiles=tuple(str(p) for p in spec.get("profiles") or ()),
    )


def _argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    return [str(item) for item in value]


def _environment(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {key: val for key, _, val in pairs}
    return {str(k): ("true" if v is True else "false" if v is False else "" if v is None else str(v))
            for k, v in value.items()}


def _port(where: str, value: Any) -> Port:
    if isinstance(value, dict):
        published = value.get("published")
        return Port(str(value.get("host_ip", "")), int(published) if published else None, int(value["target"]))
    text = str(value).split("/")[0]
    parts = text.rsplit(":", 2)
    try:
        if len(parts) == 3:
            return Port(parts[0], int(parts[1]) if parts[1] else None, int(parts[2]))
        if len(parts) == 2:
            return Port("", int(parts[0]), int(parts[1]))
        return Port("", None, int(parts[0]))
    except ValueError:
        raise ComposeFileError(f"{where}: cannot read the port {value!r} (use \"127.0.0.1:HOST:CONTAINER\")") from None


def _mount(path: Path, where: str, value: Any) -> Mount:
    if not isinstance(value, str):
        raise ComposeFileError(f"{where}: write volumes in the short form \"SOURCE:TARGET[:ro]\", not {value!r}")
    source, _, rest = value.partition(":")
    target, _, mode = rest.partition(":")
    if not target:
        raise ComposeFileError(f"{where}: the volume {value!r} has no target; anonymous volumes are not supported")
    bind = source.startswith((".", "/", "~"))
    if bind:
        source = str((path.parent / Path(source).expanduser()).resolve())
    return Mount(source=source, target=target, read_only=mode == "ro", bind=bind)


def _healthcheck(where: str, value: Any) -> Healthcheck:
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not test:
        raise ComposeFileError(f"{where}: healthcheck.test must be a list like [\"CMD\", ...]")
    return Healthcheck(
        test=[str(t) for t in test],
        interval_s=_seconds(value.get("interval", "30s")),
        timeout_s=_seconds(value.get("timeout", "30s")),
        retries=int(value.get("retries", 3)),
        start_period_s=_seconds(value.get("start_period", "0s")),
    )


def _seconds(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(str(value)))


def _depends_on(value: Any) -> dict[str, Dependency]:
    if not value:
        return {}
    if isinstance(value, list):
        return {str(name): Dependency("service_started") for name in value}
    return {str(name): Dependency(str((spec or {}).get("condition", "service_started")),
                                  bool((spec or {}).get("required", True)))
            for name, spec in value.items()}


def _build(path: Path, value: Any) -> Build:
    if isinstance(value, str):
        return Build(context=(path.parent / value).resolve(), dockerfile="Dockerfile", args={})
    return Build(
        context=(path.parent / str(value.get("context", "."))).resolve(),
        dockerfile=str(value.get("dockerfile", "Dockerfile")),
        args=_environment(value.get("args")),
        target=str(value["target"]) if value.get("target") else None,
    )


# -- checking ------------------------------------------------------------------------------------


def pinned(image: str) -> bool:
    """Pinned by a digest, or by a tag other than ``latest``."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest") and "$" not in image and "<" not in image


def check_compose(path: Path = COMPOSE_FILE, definition: StackDefinition | None = None) -> list[str]:
    """Every way the compose file disagrees with the definition or breaks the rules; [] when none."""
    d = definition or StackDefinition()
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        return [f"cannot read the compose file {path}: {exc.strerror}"]
    try:
        compose = load_compose(path, placeholders=True)
    except ComposeFileError as exc:
        return [str(exc)]
    problems: list[str] = []
    if _KEY.search(text):
        problems.append("a Hokusai API key is written in the compose file; keys come from HOKUSAI_SEED_KEY")
    used = variable_defaults(yaml.safe_load(text))
    problems += _check_variables(path, used, d)
    problems += _check_images(compose)
    problems += _check_parts(compose, d)
    problems += _check_documents(path, compose, used)
    return problems


def _check_variables(path: Path, defaults: dict[str, set[str | None]], d: StackDefinition) -> list[str]:
    problems = []
    expected = stack_variables(d, secrets=RunSecrets("k", "p", "m"))
    for name, values in sorted(defaults.items()):
        if len(values) > 1:
            shown = ", ".join(sorted(repr(v) for v in values))
            problems.append(f"variable {name} has different defaults in different places: {shown}")
    for name in _SECRETS:
        if defaults.get(name, {None}) != {None}:
            problems.append(f"variable {name} has a default in the compose file; a secret must come from the run")
    for name in _DERIVED:
        if name not in defaults:
            problems.append(f"variable {name} is not used in the compose file; the runner sets it from the definition")
            continue
        default = next(iter(defaults[name]))
        want = expected[name]
        if name == "HOKUSAI_SEED_FILE" and default is not None:
            same = (path.parent / default).resolve() == Path(want).resolve()
        else:
            same = default == want
        if not same:
            problems.append(f"variable {name} defaults to {default!r} in the compose file, but the stack "
                            f"definition gives {want!r}")
    return problems


def _check_images(compose: ComposeFile) -> list[str]:
    problems = []
    images = {f"service {s.name!r}": s.image for s in compose.services.values()}
    images.update({f"profile {p!r} (HOKUSAI_MLFLOW_IMAGE)": mlflow_image([p]) for p in PROFILES})
    for service in compose.services.values():
        if service.build and "BASE_IMAGE" in service.build.args:
            images[f"service {service.name!r} (build arg BASE_IMAGE)"] = service.build.args["BASE_IMAGE"]
        for port in service.ports:
            if port.host_ip != "127.0.0.1":
                shown = f"{port.host_ip}:{port.host_port}:{port.container_port}" if port.host_ip else \
                    f"{port.host_port}:{port.container_port}"
                problems.append(f"service {service.name!r} publishes {shown} beyond loopback; "
                                f"write \"127.0.0.1:{port.host_port}:{port.container_port}\"")
    for where, image in images.items():
        if not pinned(image):
            problems.append(f"{where}: image {image!r} is not pinned; use a tag other than `latest` or a digest")
    mlflow = compose.services.get(Part.MLFLOW.value)
    if mlflow is not None and mlflow.image != mlflow_image():
        problems.append(f"service 'mlflow' runs {mlflow.image!r}, but the pinned MLflow is {mlflow_version()}: "
                        f"use {mlflow_image()!r}")
    return problems


def _check_parts(compose: ComposeFile, d: StackDefinition) -> list[str]:
    problems = []
    for part in Part:
        service = compose.services.get(part.value)
        if service is None:
            problems.append(f"no service {part.value!r}: the compose stack must have every part of the process stack")
            continue
        port = DEFAULT_PORTS[part]
        published = [(p.host_port, p.container_port) for p in service.ports]
        if published != [(port, port)]:
            problems.append(f"service {part.value!r} publishes {published or 'nothing'}, but DEFAULT_PORTS gives "
                            f"{part.value} port {port}: write \"127.0.0.1:{port}:{port}\"")
        listens = service.environment.get("PORT") if part is Part.PROXY else service.option("--port")
        if listens != str(port):
            problems.append(f"service {part.value!r} listens on port {listens}, not {port} (DEFAULT_PORTS)")
        health = _HEALTH_URL.findall(" ".join(service.healthcheck.test)) if service.healthcheck else []
        if health != [(str(port), HEALTH_PATHS[part])]:
            problems.append(f"service {part.value!r}: the health check must get http://127.0.0.1:{port}"
                            f"{HEALTH_PATHS[part]} (HEALTH_PATHS), not {health or 'nothing'}")
    proxy, auth = compose.services.get(Part.PROXY.value), compose.services.get(Part.AUTH.value)
    if proxy is not None:
        if not HEALTH_PATHS[Part.PROXY].startswith(d.proxy_mount + "/"):
            problems.append(f"the proxy's health path {HEALTH_PATHS[Part.PROXY]} is not under {d.proxy_mount}")
        want = {"AUTH_SERVICE_ID": d.service_id, "HOKUSAI_AUTH_SERVICE_URL": _url(Part.AUTH_JOURNAL),
                "MLFLOW_SERVER_URL": _url(Part.MLFLOW_JOURNAL), **d.proxy_env}
        for name, value in want.items():
            if proxy.environment.get(name) != value:
                problems.append(f"service 'proxy': {name} is {proxy.environment.get(name)!r}, the stack "
                                f"definition gives {value!r}")
    if auth is not None:
        if auth.option("--profile") != d.auth_profile:
            problems.append(f"service 'auth': --profile {auth.option('--profile')} differs from the definition's "
                            f"auth profile {d.auth_profile!r}")
        seed = [m for m in auth.volumes if m.target == SEED_MOUNT]
        if auth.option("--seed") != SEED_MOUNT or not seed or Path(seed[0].source) != d.seed_file.resolve():
            problems.append(f"service 'auth' must be seeded from {d.seed_file} mounted at {SEED_MOUNT} "
                            "(--seed): the process stack's seed file")
        if auth.option("--state-file") != f"{RUN_MOUNT}/state/auth-state.json":
            problems.append(f"service 'auth' must write --state-file {RUN_MOUNT}/state/auth-state.json")
        if not {"FAKE_AUTH_ADMIN_TOKEN", "FAKE_AUTH_API_KEYS"} <= set(auth.environment):
            problems.append("service 'auth' must take FAKE_AUTH_ADMIN_TOKEN and FAKE_AUTH_API_KEYS from the run")
    for journal, (upstream, hop) in JOURNALS.items():
        service = compose.services.get(journal.value)
        if service is None:
            continue
        want = {"--upstream": _url(upstream), "--hop": hop, "--out": f"{RUN_MOUNT}/journals/{journal.value}.jsonl"}
        for flag, value in want.items():
            if service.option(flag) != value:
                problems.append(f"service {journal.value!r}: {flag} is {service.option(flag)!r}, expected {value!r}")
    mlflow = compose.services.get(Part.MLFLOW.value)
    if mlflow is not None:
        if mlflow.option("--workers") != "1":
            problems.append("service 'mlflow' must run one worker (--workers 1), like the process stack")
        if mlflow.environment.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION") != "false":
            problems.append("service 'mlflow' must set MLFLOW_SERVER_ENABLE_JOB_EXECUTION: \"false\"")
    return problems


def _check_documents(path: Path, compose: ComposeFile, used: dict[str, set[str | None]]) -> list[str]:
    """The variables are documented, and the docs beside the file name the pinned MLflow."""
    problems = []
    example = path.parent / ".env.example"
    documented = example.read_text("utf-8") if example.exists() else ""
    for name in sorted(used):
        if example.exists() and not re.search(rf"^#?\s*{name}=", documented, re.MULTILINE):
            problems.append(f"variable {name} is not documented in {example.name}")
    for doc in (example, path.parent / "README.md", path.parent / "Dockerfile"):
        if not doc.exists():
            continue
        for tag in re.findall(re.escape(MLFLOW_IMAGE_REPOSITORY) + r":v(\d+(?:\.\d+)*)",
                              doc.read_text("utf-8")):
            if tag != mlflow_version():
                problems.append(f"{doc.name} names MLflow {tag}, but the pinned MLflow is {mlflow_version()}")
    dockerfile = path.parent / "Dockerfile"
    if dockerfile.exists():
        base = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text("utf-8"), re.MULTILINE)
        built = [s.build.args.get("BASE_IMAGE") for s in compose.services.values() if s.build]
        if base is None or not pinned(base.group(1)):
            problems.append(f"{dockerfile.name}: `ARG BASE_IMAGE=` needs a pinned default image")
        elif any(arg not in (None, base.group(1)) for arg in built):
            problems.append(f"the compose build arg BASE_IMAGE differs from {dockerfile.name}'s default "
                            f"{base.group(1)}")
    problems += _check_mlflow_dockerfile(path.parent / MLFLOW_DOCKERFILE, dockerfile)
    return problems


def _check_mlflow_dockerfile(path: Path, dockerfile: Path) -> list[str]:
    """The stand-in for the official MLflow image installs the pinned MLflow on the same base."""
    if not path.exists():
        return []
    text = path.read_text("utf-8")
    problems = []
    version = re.search(r"^ARG MLFLOW_VERSION=(\S*)", text, re.MULTILINE)
    if version is None or version.group(1) != mlflow_version():
        found = version.group(1) if version else "nothing"
        problems.append(f"{path.name}: `ARG MLFLOW_VERSION=` is {found}, but the pinned MLflow is {mlflow_version()}")
    bases = [re.search(r"^ARG BASE_IMAGE=(\S*)", f.read_text("utf-8"), re.MULTILINE)
             for f in (path, dockerfile) if f.exists()]
    if len({b.group(1) if b else None for b in bases}) > 1:
        problems.append(f"{path.name}: `ARG BASE_IMAGE=` differs from {dockerfile.name}'s: one base for both")
    return problems
