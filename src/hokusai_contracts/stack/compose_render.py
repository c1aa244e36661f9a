"""The compose files, rendered from the stack's plan: ``hokusai-contracts compose render``.

``compose/docker-compose.yml`` (one bridge network, loopback-only published ports) and
``compose/docker-compose.host.yml`` (every container on the host's network, for engines whose
bridge cannot be used) are this module's output for the default ``StackDefinition``, committed so
that ``docker compose`` works by hand; ``tests/compose`` fails when they differ from what it
renders now (``compose render --check``), the pattern of ``make contracts``.

The compose site names parts by service name and fixed port, and turns what a run chooses (the
service id, the auth profile, the journal's fault, the proxy's upstreams, the secrets) into
``${HOKUSAI_*}`` variables whose defaults are the default definition's. Building a run's plan on
a fresh site records that run's values of the same variables, which the docker runner hands to
``docker compose`` through the environment: names cannot drift, and no secret is written down.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from hokusai_contracts import __version__
from hokusai_contracts.domain.redact import register_secrets
from hokusai_contracts.stack.definition import (
    COMPOSE_PARTS,
    DEFAULT_PORTS,
    HEALTH,
    Expect,
    HealthRule,
    Part,
    StackDefinition,
    project_root,
)
from hokusai_contracts.stack.plan import PartPlan, Site, StackPlan, build_plan
from hokusai_contracts.stack.stores import ARTIFACT_ROOT, REGION

__all__ = ["COMPOSE_DIR", "POSTGRES_IMAGE", "PROFILES", "S3_IMAGE", "STACK_IMAGE", "ComposeSite", "Network",
           "RunSecrets", "bucket_health_command", "check_rendered", "compose_file", "health_command", "mlflow_image",
           "mlflow_version", "render", "write_rendered"]

COMPOSE_DIR = project_root() / "compose"
PROFILES = ("postgres", "s3")
STACK_IMAGE = f"hokusai-contracts/stack:{__version__}"
MLFLOW_IMAGE_REPOSITORY = "ghcr.io/mlflow/mlflow"
#: Inside the project's containers: the bind-mounted run folder and the seed file.
RUN_MOUNT = "/hokusai/run"
SEED_MOUNT = "/hokusai/seed/keys.yaml"
_USER = "${HOKUSAI_UID:-1000}:${HOKUSAI_GID:-1000}"
_KEY_ALPHABET = string.ascii_letters + string.digits
#: The S3 access key id of the s3 profile (not a secret: the secret key is HOKUSAI_S3_SECRET_KEY).
_S3_KEY_ID = "hokusai"
#: Production's database: RDS PostgreSQL 15, en_US.UTF-8. The Debian flavour sets LANG=en_US.utf8 (alpine's musl
#: has no such collation); the major tag follows 15's minor releases as RDS's auto-upgrades do.
POSTGRES_IMAGE = "postgres:15-bookworm"
#: moto's own image (MinIO's images are no longer published), at the version constraints.txt pins for the
#: process stack's ARTIFACT_STORE=s3 (moto publishes a tag per release since 5.0.21).
S3_IMAGE = "motoserver/moto:5.2.6"


class Network(StrEnum):
    BRIDGE = "bridge"
    HOST = "host"


def compose_file(network: Network) -> Path:
    return COMPOSE_DIR / ("docker-compose.yml" if network is Network.BRIDGE else "docker-compose.host.yml")


def port_variable(part: Part) -> str:
    """The variable choosing where the host reaches a part (bridge network only)."""
    return f"HOKUSAI_{part.name}_PORT"


@dataclass(frozen=True)
class RunSecrets:
    """Fresh per run: nothing of it is ever written to the repository."""

    seed_key: str
    postgres_password: str
    s3_secret_key: str

    def __post_init__(self) -> None:
        register_secrets(self.seed_key, self.postgres_password, self.s3_secret_key)

    @classmethod
    def generate(cls) -> RunSecrets:
        # The fake auth service takes hk_live_ + 32 letters and digits; hex passwords stay URL-safe.
        key = "hk_live_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        return cls(seed_key=key, postgres_password=secrets.token_hex(16), s3_secret_key=secrets.token_hex(20))


def mlflow_version() -> str:
    """The installed MLflow's version, else the pin in pyproject.toml."""
    try:
        return metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        pin = re.search(r'"mlflow==([^"]+)"', (project_root() / "pyproject.toml").read_text("utf-8"))
        return pin.group(1) if pin else "unknown"


def mlflow_image(profiles: Iterable[str] = (), version: str | None = None) -> str:
    """The official image of ``version`` (MLFLOW_VERSION; default: the pinned MLflow's)."""
    # The database and S3 drivers are only in the official image's "-full" flavour (MLflow >= 3.9).
    flavour = "-full" if set(profiles) & set(PROFILES) else ""
    return f"{MLFLOW_IMAGE_REPOSITORY}:v{version or mlflow_version()}{flavour}"


@dataclass
class ComposeSite(Site):
    """The parts as compose services; ``variables`` collects the values of the run the plan was built for."""

    secrets: RunSecrets | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, value: str) -> str:
        self._record(name, value)
        return f"${{{name}:-{value}}}"

    def secret(self, name: str, value: str) -> str:
        self._record(name, value)
        return f"${{{name}:?set {name} (see compose/.env.example)}}"

    def optional_secret(self, name: str, value: str) -> str:
        self._record(name, value)
        return f"${{{name}:-}}"

    def auth_env(self, definition: StackDefinition) -> dict[str, str]:
        # A key of the run's own besides the seed file's, so that a stack started by hand has one
        # its user knows without reading the state file.
        key = self.secret("HOKUSAI_SEED_KEY", self.secrets.seed_key if self.secrets else "")
        return {"FAKE_AUTH_API_KEYS": f"{key}@{self.value('HOKUSAI_SERVICE_ID', definition.service_id)}"}

    def _record(self, name: str, value: str) -> None:
        if self.variables.setdefault(name, value) != value:
            raise ValueError(f"variable {name} given two values: {self.variables[name]!r} and {value!r}")


def compose_site(network: Network, run_secrets: RunSecrets | None = None, profiles: Iterable[str] = ()) -> ComposeSite:
    profiles = set(profiles)
    password = run_secrets.postgres_password if run_secrets else ""
    site = ComposeSite(
        python="python", mlflow="mlflow", bind_host="0.0.0.0" if network is Network.BRIDGE else "127.0.0.1",
        ports=DEFAULT_PORTS, hosts={part: part.value for part in Part}, run_dir=RUN_MOUNT, seed_file=SEED_MOUNT,
        unreachable_url="http://127.0.0.1:1",
        mlflow_stores=(f"postgresql+psycopg2://mlflow:{password}@postgres:5432/mlflow" if "postgres" in profiles
                       else "sqlite:////mlflow/mlflow.db", ARTIFACT_ROOT if "s3" in profiles
                       else "/mlflow/artifacts"),
        secrets=run_secrets,
    )
    site.mlflow_env = {
        # MLflow refuses Host headers it does not know (DNS-rebinding protection): the journal and
        # the proxy call it by its service name.
        "MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*",
        # Used by the s3 profile only (moto's S3 server, as the process stack's ARTIFACT_STORE=s3).
        "MLFLOW_S3_ENDPOINT_URL": f"http://{Part.S3.value}:{DEFAULT_PORTS[Part.S3]}", "AWS_ACCESS_KEY_ID": _S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": site.optional_secret("HOKUSAI_S3_SECRET_KEY",
                                                      run_secrets.s3_secret_key if run_secrets else ""),
        "AWS_DEFAULT_REGION": REGION,
    }
    if run_secrets:
        site.variables["HOKUSAI_POSTGRES_PASSWORD"] = run_secrets.postgres_password
    return site


def health_command(rule: HealthRule, port: int) -> list[str]:
    """The container's own health check, by the rule the host-side wait uses (python is in every image of ours)."""
    url = f"http://127.0.0.1:{port}{rule.path}"
    if rule.expect is Expect.OK:
        code = f"import sys, urllib.request as u; sys.exit(u.urlopen('{url}', timeout=2).status != 200)"
    else:
        code = (f"import urllib.error as e, urllib.request as u\ntry: u.urlopen('{url}', timeout=2)\n"
                "except e.HTTPError: pass")
    return ["CMD", "python", "-c", code]


def bucket_health_command(port: int) -> list[str]:
    """moto's health: the bucket answers (the process part's rule), made first if it is not there yet.

    moto's image has no way to make a bucket at start, so its health check does: an unsigned PUT (moto
    checks no signature), which us-east-1 answers 200 again for a bucket one already owns, then the
    rule's GET. MLflow waits for this health, so it never starts against a store without its bucket.
    """
    url = f"http://127.0.0.1:{port}{HEALTH[Part.S3].path}"
    code = ("import sys, urllib.request as u\n"
            f"u.urlopen(u.Request('{url}', method='PUT'), timeout=2)\n"
            f"sys.exit(u.urlopen('{url}', timeout=2).status != 200)")
    return ["CMD", "python", "-c", code]


def _service(plan: PartPlan, network: Network) -> dict[str, Any]:
    part = plan.part
    service: dict[str, Any] = {}
    if part is Part.MLFLOW:
        service["image"] = f"${{HOKUSAI_MLFLOW_IMAGE:-{mlflow_image()}}}"
    elif part is Part.PROXY:
        service["image"] = f"${{HOKUSAI_PROXY_IMAGE:-{STACK_IMAGE}}}"
    else:
        service["image"] = STACK_IMAGE
    if part is Part.AUTH:  # one build of the image the fake, the journals and the reference proxy share
        build: dict[str, Any] = {"context": "..", "dockerfile": "compose/Dockerfile",
                                 "args": {"BASE_IMAGE": "${HOKUSAI_BASE_IMAGE:-python:3.11-slim}"}}
        if network is Network.HOST:
            build["network"] = "host"
        service["build"] = build
    if part is not Part.PROXY:
        # The proxy runs its image's own command and is configured by environment only, so any
        # image works that listens on $HOST:$PORT (the reference proxy's image does just that).
        service["command"] = list(plan.argv)
    if service["image"] == STACK_IMAGE:
        # As the caller (HOKUSAI_UID): what they write to the bind-mounted run folder is the caller's.
        service["user"] = _USER
    if plan.env:
        service["environment"] = dict(plan.env)
    service["volumes"] = {
        Part.MLFLOW: ["mlflow-data:/mlflow"],
        Part.AUTH: [f"${{HOKUSAI_SEED_FILE:-../mocks/fake_auth/keys.yaml}}:{SEED_MOUNT}:ro",
                    f"${{HOKUSAI_RUN_DIR:-./.run}}:{RUN_MOUNT}"],
        Part.PROXY: [],
    }.get(part, [f"${{HOKUSAI_RUN_DIR:-./.run}}:{RUN_MOUNT}"])
    if not service["volumes"]:
        del service["volumes"]
    if network is Network.BRIDGE:
        service["ports"] = [f"127.0.0.1:${{{port_variable(part)}:-{plan.port}}}:{plan.port}"]
    else:
        service["network_mode"] = "host"
        names = dict.fromkeys(p.value for p in COMPOSE_PARTS)
        service["extra_hosts"] = [f"{name}:127.0.0.1" for name in names]
    if part is not Part.PROXY:
        # A user's proxy image may have no python: the runner asks its health from the host instead.
        service["healthcheck"] = {"test": health_command(plan.health, plan.port), "interval": "2s", "timeout": "3s",
                                  "retries": 30, **({"start_period": "10s"} if part is Part.MLFLOW else {})}
    depends: dict[str, Any] = {need.value: {"condition": "service_healthy"} for need in plan.needs}
    if part is Part.MLFLOW:
        depends = {"postgres": {"condition": "service_healthy", "required": False},
                   "s3": {"condition": "service_healthy", "required": False}}
    if depends:
        service["depends_on"] = depends
    return service


def _profile_services(network: Network) -> dict[str, Any]:
    bind = "0.0.0.0" if network is Network.BRIDGE else "127.0.0.1"
    host = {"network_mode": "host"} if network is Network.HOST else {}
    s3_port = DEFAULT_PORTS[Part.S3]
    return {
        "postgres": {"image": POSTGRES_IMAGE, "profiles": ["postgres"],
                     "command": ["postgres", "-c", f"listen_addresses={bind}"],
                     "environment": {"POSTGRES_USER": "mlflow", "POSTGRES_DB": "mlflow",
                                     "POSTGRES_PASSWORD": "${HOKUSAI_POSTGRES_PASSWORD:-}",
                                     "POSTGRES_INITDB_ARGS": "--locale=en_US.UTF-8 --encoding=UTF8"},
                     "volumes": ["postgres-data:/var/lib/postgresql/data"], **host,
                     "healthcheck": {"test": ["CMD", "pg_isready", "-U", "mlflow", "-d", "mlflow", "-h", "127.0.0.1"],
                                     "interval": "2s", "timeout": "3s", "retries": 30}},
        # moto's S3 server from moto's own image: the same server as the process stack's ARTIFACT_STORE=s3.
        "s3": {"image": S3_IMAGE, "profiles": ["s3"],
               "entrypoint": ["/usr/local/bin/moto_server", "-H", bind, "-p", str(s3_port)], **host,
               **({"ports": [f"127.0.0.1:${{{port_variable(Part.S3)}:-{s3_port}}}:{s3_port}"]}
                  if network is Network.BRIDGE else {}),
               "healthcheck": {"test": bucket_health_command(s3_port), "interval": "2s", "timeout": "3s",
                               "retries": 30}},
    }


_HEADER = """\
# GENERATED from the stack's plan (src/hokusai_contracts/stack/plan.py) by
# `hokusai-contracts compose render`: do not edit by hand; tests/compose fails when this file
# differs from what the plan renders. {variant}
#
#   make contract-local STACK=docker   the docker runner: `docker compose up --wait` on this file with
#                                      the run's variables (fresh secrets, free ports), `down -v` after
#   make compose-up / compose-down     the same, left running on the default ports
#   docker compose -f {name} up
#                                      by hand: see compose/README.md and .env.example
#
# Published ports bind 127.0.0.1 only. Secrets are never written here: HOKUSAI_SEED_KEY and
# HOKUSAI_ADMIN_TOKEN (and the profiles' passwords) come from the environment, fresh per run.
"""
_VARIANT = {Network.BRIDGE: "One bridge network; ports published on loopback.",
            Network.HOST: "Every container on the host's network (DOCKER_NETWORK=host), at the fixed ports."}


def render_plan(plan: StackPlan, network: Network) -> str:
    services = {part.value: _service(p, network) for part, p in plan.parts.items()}
    document = {"name": "hokusai-contracts", "services": {**services, **_profile_services(network)},
                "volumes": {"mlflow-data": {}, "postgres-data": {}}}
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=4096, allow_unicode=True)
    return _HEADER.format(variant=_VARIANT[network], name=f"compose/{compose_file(network).name}") + body


def render(network: Network) -> str:
    """The committed file's text: the default definition's plan on the compose site."""
    return render_plan(build_plan(StackDefinition(), compose_site(network)), network)


def check_rendered(folder: Path = COMPOSE_DIR) -> list[str]:
    """One line per compose file in ``folder`` that differs from what the plan renders; [] when none."""
    problems = []
    for network in Network:
        path = folder / compose_file(network).name
        try:
            current = path.read_text("utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot read it ({exc.strerror}); run `hokusai-contracts compose render`")
            continue
        if current != render(network):
            problems.append(f"{path} differs from what the stack plan renders; run `hokusai-contracts compose "
                            "render` (and change the plan, not the file)")
    return problems


def write_rendered(folder: Path = COMPOSE_DIR) -> list[Path]:
    written = []
    for network in Network:
        path = folder / compose_file(network).name
        path.write_text(render(network), "utf-8")
        written.append(path)
    return written
