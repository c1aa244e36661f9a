"""The docker runner: the generated compose file, run by the engine's own ``docker compose``.

``start`` builds the run's plan on the compose site (``compose_render``), which yields the values
of the file's variables for this run; with fresh secrets, free host ports and a run folder (mode
0700) for the journals and the fake auth's state file, it runs ``docker compose up --wait`` on
``compose/docker-compose.yml`` (``docker-compose.host.yml`` with ``DOCKER_NETWORK=host``) in a
project of its own, then waits for each part from the host by the same health rules and builds
the endpoints with the same code as the process runner. ``stop`` keeps the logs (redacted) and
runs ``docker compose down -v``: containers, network and volumes go; images stay, so the next
build is a cache hit. ``DockerStack`` has the process stack's interface, so the scenario, the
suites and the reports run unchanged against it.

What a run does not get as an argument it reads from the environment (``DockerSettings``): the
images (the compose file's own ``HOKUSAI_*_IMAGE`` variables) and ``HOKUSAI_DOCKER_NETWORK``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hokusai_contracts._errors import StackError
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.settings import settings_error
from hokusai_contracts.stack.compose_render import (
    Network,
    RunSecrets,
    compose_file,
    compose_site,
    mlflow_image,
    port_variable,
)
from hokusai_contracts.stack.definition import COMPOSE_PARTS, DEFAULT_PORTS, JOURNALS, Part, StackDefinition
from hokusai_contracts.stack.docker_engine import Compose, docker_available, require_compose, rootless_engine
from hokusai_contracts.stack.health import StackEndpoints, assemble_endpoints, start_in_order
from hokusai_contracts.stack.mlflow_env import check_version
from hokusai_contracts.stack.plan import PartPlan, build_plan
from hokusai_contracts.stack.processes import free_port, sigterm_as_interrupt

__all__ = ["COMPOSE_PROJECT", "DockerSettings", "DockerStack", "compose_down", "compose_up", "docker_available",
           "load_docker_settings", "running_docker_stack"]

_ROOT_PREFIX = "hokusai-docker-"
#: The project of `make compose-up`; runs use projects of their own and never block it.
COMPOSE_PROJECT = "hokusai-contracts"


class DockerSettings(BaseSettings):
    """The docker runner's choices read from the environment, in one place; explicit arguments win.

    The image variables are the compose file's own (``compose/.env.example``), so a shell set up
    for ``docker compose`` by hand runs the same images through the runner.
    """

    model_config = SettingsConfigDict(env_prefix="HOKUSAI_", extra="ignore", env_ignore_empty=True)

    #: HOKUSAI_MLFLOW_IMAGE: MLflow in place of the official pinned image (a mirror, or an image
    #: built from compose/mlflow.Dockerfile where ghcr.io cannot be reached).
    mlflow_image: str | None = None
    #: HOKUSAI_BASE_IMAGE: the base of compose/Dockerfile in place of python:3.11-slim.
    base_image: str | None = None
    #: HOKUSAI_PROXY_IMAGE: your proxy's image in place of the reference proxy.
    proxy_image: str | None = None
    #: HOKUSAI_DOCKER_NETWORK: ``host`` where containers must not use the daemon's bridge networks.
    docker_network: Literal["bridge", "host"] = "bridge"

    def variables(self) -> dict[str, str]:
        chosen = {"HOKUSAI_MLFLOW_IMAGE": self.mlflow_image, "HOKUSAI_BASE_IMAGE": self.base_image}
        return {name: value for name, value in chosen.items() if value}


def load_docker_settings() -> DockerSettings:
    try:
        return DockerSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None


@dataclass
class DockerStack:
    definition: StackDefinition = field(default_factory=StackDefinition)
    #: Your proxy's image in place of the reference proxy (else HOKUSAI_PROXY_IMAGE); pin it by tag or digest.
    proxy_image: str | None = None
    profiles: Sequence[str] = ()
    #: None: HOKUSAI_DOCKER_NETWORK, else bridge.
    network: Literal["bridge", "host"] | None = None
    #: Publish the fixed DEFAULT_PORTS (compose-up) instead of free ports (runs never collide).
    fixed_ports: bool = False
    #: Compose variables to set explicitly; they win over what the definition and the environment give.
    variables: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    project: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    root: Path | None = None
    endpoints: StackEndpoints | None = None
    stores: tuple[str, str] = ("sqlite", "local, proxied")
    urls: dict[Part, str] = field(default_factory=dict)
    compose: Compose | None = field(default=None, repr=False)
    _secrets: RunSecrets | None = field(default=None, init=False, repr=False)

    # -- start -----------------------------------------------------------------------------

    def start(self, root: Path | None = None) -> StackEndpoints:
        started = time.perf_counter()
        settings = load_docker_settings()
        self.network = self.network or settings.docker_network
        self.proxy_image = self.proxy_image or settings.proxy_image
        self.variables = {**settings.variables(), **self.variables}
        self.project = self.project or f"hokusai-{self.run_id}"
        if self.definition.mlflow_version:  # the image's tag: refused now, not after a failed pull
            self.definition = replace(self.definition, mlflow_version=check_version(self.definition.mlflow_version))
        require_compose()  # before anything is created: no engine, nothing to undo
        ports = self._host_ports()
        if root is None:
            root = Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{self.run_id}-"))
        else:
            root.mkdir(mode=0o700)
        self.root = root
        try:
            return self._start(ports, started)
        except BaseException:
            self.stop()
            raise

    def _host_ports(self) -> dict[Part, int]:
        if self.network == "bridge" and not self.fixed_ports:
            return {part: free_port() for part in COMPOSE_PARTS}
        for part, number in DEFAULT_PORTS.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # As servers bind: a previous run's connections in TIME_WAIT do not hold the port.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", number))
                except OSError:
                    raise StackError(f"port {number} on 127.0.0.1 is taken, and {part} needs it ("
                                     f"{'host networking' if self.network == 'host' else 'compose-up'} uses the "
                                     "fixed DEFAULT_PORTS); stop what holds it, or run `make compose-down`") from None
        return dict(DEFAULT_PORTS)

    def _start(self, ports: dict[Part, int], started: float) -> StackEndpoints:
        d, root = self.definition, self.root
        assert root is not None and self.project is not None
        run_dir = root / "run"
        for folder in (run_dir, run_dir / "state", run_dir / "journals"):
            folder.mkdir(mode=0o700)
        self._secrets = RunSecrets.generate()
        network = Network(self.network or "bridge")
        self.stores = ("postgresql 15 (compose profile postgres)" if "postgres" in self.profiles else "sqlite",
                       "s3 (compose profile s3, moto), proxied" if "s3" in self.profiles else "local, proxied")
        site = compose_site(network, self._secrets, self.profiles)
        plan = build_plan(d, site)  # records this run's values of the file's variables
        uid, gid = (0, 0) if rootless_engine() else (os.getuid(), os.getgid())
        variables = {**site.variables, "HOKUSAI_RUN_DIR": str(run_dir), "HOKUSAI_SEED_FILE": str(d.seed_file),
                     "HOKUSAI_UID": str(uid), "HOKUSAI_GID": str(gid),
                     "HOKUSAI_MLFLOW_IMAGE": mlflow_image(self.profiles, d.mlflow_version),
                     **({"HOKUSAI_PROXY_IMAGE": self.proxy_image} if self.proxy_image else {}),
                     **{port_variable(part): str(port) for part, port in ports.items()}, **self.variables}
        self.compose = Compose(self.project, (compose_file(network),), variables, tuple(self.profiles))
        timeout = max(d.start_timeout_s, 120.0)
        images = time.perf_counter()
        try:
            # Built first, on its own: `up` would try to pull the image the journals and the reference
            # proxy share with the fake auth service (only that service says how to build it) from a
            # registry, where it is not. Built every run: an unchanged tree is a cache hit.
            self.compose.checked("build", timeout=900, hidden=self._hidden())
            self.compose.checked("up", "--detach", "--wait", "--wait-timeout", f"{timeout:.0f}",
                                 timeout=timeout + 600, hidden=self._hidden())  # + pulls
        except StackError as exc:
            raise StackError(f"{exc}{self._tails_of_named(str(exc))}") from None
        self.timings["images+up"] = time.perf_counter() - images
        self.urls = {part: f"http://127.0.0.1:{ports[part]}" for part in plan.parts}
        start_in_order(plan, self, timeout, self.timings)
        self.timings["start"] = time.perf_counter() - started
        journals = {journal: run_dir / "journals" / f"{journal}.jsonl" for journal in JOURNALS}
        self.endpoints = assemble_endpoints(d, self.urls, run_dir / "state" / "auth-state.json", journals)
        return self.endpoints

    def _tails_of_named(self, said: str) -> str:
        """The log tails of the parts compose named in its complaint (`container <project>-auth-1 exited (2)`)."""
        named = set(re.findall(rf"{re.escape(str(self.project))}[-_]([a-z-]+?)[-_]\d+", said))
        return "".join(f"\nLast lines of {part}'s log:\n{self.log_tail(part)}" for part in COMPOSE_PARTS
                       if part.value in named)

    def _hidden(self) -> list[str]:
        known = self._secrets
        return [self.definition.admin_token, *((known.seed_key, known.postgres_password, known.s3_secret_key)
                                               if known else ())]

    # -- the launcher start_in_order drives: compose started every part already ---------------

    def launch(self, part: PartPlan) -> None:
        pass

    def base_url(self, part: Part) -> str | None:
        return self.urls.get(part)

    def exit_status(self, part: Part) -> str | None:
        return None  # `up --wait` saw it running; a container that dies later shows in its log

    def log_tail(self, part: Part, lines: int = 20) -> str:
        if self.compose is None:
            return "(no log)"
        done = self.compose.run("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), part.value, timeout=30)
        return redact((done.stdout + done.stderr).rstrip(), self._hidden()) or "(empty log)"

    # -- faults ----------------------------------------------------------------------------

    def pause(self, part: Part) -> None:
        """Freeze a part: it accepts connections but never answers, like a hung server."""
        self._each("pause", [part])

    def resume(self, part: Part) -> None:
        self._each("unpause", [part])

    def kill(self, part: Part) -> None:
        """Stop a part for good, and the journal in front of it (the proxy talks to that)."""
        fronted = {upstream: journal for journal, (upstream, _) in JOURNALS.items()}
        self._each("kill", [p for p in (part, fronted.get(part)) if p is not None])

    def _each(self, action: str, parts: list[Part]) -> None:
        if self.compose is not None:
            self.compose.checked(action, *(p.value for p in parts), timeout=60, hidden=self._hidden())

    # -- stop ------------------------------------------------------------------------------

    def stop(self, keep_logs_in: Path | None = None) -> None:
        started = time.perf_counter()
        try:
            if self.compose is not None:
                try:
                    if keep_logs_in is not None:
                        self._keep_logs(keep_logs_in)
                finally:
                    self.compose.checked("down", "--volumes", "--remove-orphans", "--timeout",
                                         f"{self.definition.stop_timeout_s:.0f}", timeout=180, hidden=self._hidden())
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            self.timings["stop"] = time.perf_counter() - started

    def _keep_logs(self, folder: Path) -> None:
        assert self.compose is not None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for part in self.urls or Part:
                done = self.compose.run("logs", "--no-color", "--no-log-prefix", part.value, timeout=60)
                # Redacted on the way out: a proxy under test may log what it likes.
                (folder / f"{part}.log").write_text(redact(done.stdout + done.stderr, self._hidden()), "utf-8")
        except OSError as exc:
            raise StackError(f"cannot keep the stack's logs in {folder} ({exc.strerror or exc}); choose a "
                             "writable REPORT_DIR") from None


@contextmanager
def running_docker_stack(definition: StackDefinition | None = None, proxy_image: str | None = None,
                         keep_logs_in: Path | None = None, **options: Any) -> Iterator[DockerStack]:
    """Start the docker stack, yield it, and remove it whatever happens (exceptions, Ctrl-C, SIGTERM)."""
    stack = DockerStack(definition or StackDefinition(), proxy_image, **options)
    with sigterm_as_interrupt():
        try:
            stack.start()
            yield stack
        finally:
            stack.stop(keep_logs_in)


# -- compose up / down for manual use -------------------------------------------------------------


def _compose_root() -> Path:
    """The run folder of `make compose-up`: it must outlive the command, until `make compose-down`."""
    return Path(tempfile.gettempdir()) / f"{_ROOT_PREFIX}{COMPOSE_PROJECT}-{os.getuid()}"


def _idle(network: Network) -> Compose:
    # `down` reads the file too, and its required variables must be set, if to nothing real.
    unused = {"HOKUSAI_ADMIN_TOKEN": "unused", "HOKUSAI_SEED_KEY": "unused"}
    return Compose(COMPOSE_PROJECT, (compose_file(network),), unused)


def compose_up(definition: StackDefinition | None = None, *, proxy_image: str | None = None,
               profiles: Sequence[str] = (), network: Literal["bridge", "host"] | None = None) -> DockerStack:
    """Start the stack on the fixed DEFAULT_PORTS and leave it running; ``compose_down`` removes it.

    The returned stack's ``endpoints`` tell where it answers; ``root`` holds the journals and the
    fake's state file (every seeded key) until ``compose_down``.
    """
    require_compose()
    running = _idle(Network.BRIDGE).run("ps", "--quiet", timeout=60)
    if running.stdout.strip() or _compose_root().exists():
        raise StackError("the compose stack is already up; `make compose-down` first")
    stack = DockerStack(definition or StackDefinition(), proxy_image, profiles=profiles, network=network,
                        fixed_ports=True, project=COMPOSE_PROJECT)
    stack.start(root=_compose_root())
    return stack


def compose_down() -> list[str]:
    """Remove what hokusai-contracts' compose projects created (containers, networks, volumes) and the run folder.

    Returns what was removed, one line each.
    """
    require_compose()
    listed = _idle(Network.BRIDGE).run("ls", "--all", "--format", "json", timeout=60)
    try:
        projects = {str(p.get("Name")) for p in json.loads(listed.stdout or "[]")}
    except ValueError:
        projects = set()
    ours = sorted({COMPOSE_PROJECT} | {p for p in projects if p.startswith("hokusai-")})
    removed: list[str] = []
    for project in ours:
        done = Compose(project, _idle(Network.BRIDGE).files, _idle(Network.BRIDGE).variables).checked(
            "down", "--volumes", "--remove-orphans", timeout=180)
        removed += [line.strip() for line in done.splitlines() if "Removed" in line]
    root = _compose_root()
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
        removed.append(f"folder {root}")
    return removed
