"""The docker runner: the compose stack driven through the docker SDK.

The SDK has no compose, so this module does what ``docker compose up`` would with
``compose/docker-compose.yml``: it builds the project's image from ``compose/Dockerfile``, pulls the
others if missing, creates a network and the named volumes, and starts one container per service in
``depends_on`` order, waiting on the health checks. ``DockerStack`` has the process stack's
interface (``start() -> StackEndpoints``, ``stop(keep_logs_in)``, ``timings``, ``root``, ``kill``),
so the scenario, the suites and the reports run unchanged against it.

Everything it creates carries the label ``hokusai-contracts.run=<run id>``: ``stop`` removes what
carries this run's id (also after a failed start), ``compose_down`` what carries any. Images stay,
so the next run's build is a cache hit.

With ``network="host"`` the containers share the host's network (for engines whose bridge
networks cannot be made or used): services listen on 127.0.0.1 at the fixed ports of
``DEFAULT_PORTS``, find each other by name through ``/etc/hosts`` entries, and the image builds
use the host's network too.

What a run does not get as an argument it reads from the environment (``DockerSettings``): the
images (the compose file's own ``HOKUSAI_*_IMAGE`` variables) and ``HOKUSAI_DOCKER_NETWORK``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hokusai_contracts._errors import StackError
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.settings import settings_error
from hokusai_contracts.stack.compose_file import (
    COMPOSE_FILE,
    JOURNALS,
    Build,
    ComposeFile,
    ComposeFileError,
    RunSecrets,
    ServiceSpec,
    check_compose,
    journals_needed,
    load_compose,
    stack_variables,
)
from hokusai_contracts.stack.definition import DEFAULT_PORTS, HEALTH_PATHS, Part, StackDefinition
from hokusai_contracts.stack.docker_engine import (
    LABEL_ROOT,
    LABEL_RUN,
    LABEL_SERVICE,
    build_context,
    docker_available,
    engine,
    reason_of,
    remove_labelled,
)
from hokusai_contracts.stack.processes import StackEndpoints, sigterm_as_interrupt

__all__ = ["ContainerPart", "DockerSettings", "DockerStack", "compose_down", "compose_up", "docker_available",
           "load_docker_settings", "running_docker_stack"]

_ROOT_PREFIX = "hokusai-docker-"
#: Run ids of compose-up stacks start so; test runs have random ids and never block compose-up.
_COMPOSE_RUN = "compose-"
_PART_NAMES = frozenset(part.value for part in Part)


# -- settings ------------------------------------------------------------------------------------


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
        """The compose variables these settings choose."""
        chosen = {"HOKUSAI_MLFLOW_IMAGE": self.mlflow_image, "HOKUSAI_BASE_IMAGE": self.base_image}
        return {name: value for name, value in chosen.items() if value}


def load_docker_settings() -> DockerSettings:
    try:
        return DockerSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None


# -- the stack -----------------------------------------------------------------------------------


@dataclass
class ContainerPart:
    """One running service: its container and, for a part of the stack, where the host reaches it."""

    service: str
    container: Any
    launched_at: float
    url: str | None = None
    healthy_after_s: float | None = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.container.logs(stdout=True, stderr=True, tail=lines).decode("utf-8", "replace")
        except Exception as exc:  # the engine may have lost the container already
            return f"(no log: {reason_of(exc)})"
        return redact(text.rstrip()) or "(empty log)"


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
    compose_path: Path = COMPOSE_FILE
    #: Compose variables to set explicitly; they win over what the definition and the environment
    #: (DockerSettings) give, so use them knowingly.
    variables: Mapping[str, str] = field(default_factory=dict)
    client: Any = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    parts: dict[Part, ContainerPart] = field(default_factory=dict)
    containers: dict[str, ContainerPart] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    root: Path | None = None
    endpoints: StackEndpoints | None = None
    _secrets: RunSecrets | None = field(default=None, init=False, repr=False)

    # -- start -----------------------------------------------------------------------------

    def start(self) -> StackEndpoints:
        started = time.perf_counter()
        settings = load_docker_settings()
        self.network = self.network or settings.docker_network
        self.proxy_image = self.proxy_image or settings.proxy_image
        self.variables = {**settings.variables(), **self.variables}
        self.client = engine(self.client)  # before anything is created: no engine, nothing to undo
        self.root = Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{self.run_id}-"))
        try:
            return self._start(started)
        except BaseException:
            self.stop()
            raise

    def _start(self, started: float) -> StackEndpoints:
        d = self.definition
        assert self.root is not None
        run_dir = self.root / "run"
        for folder in (run_dir / "journals", run_dir / "state"):
            folder.mkdir(parents=True)
        problems = check_compose(self.compose_path)
        if problems:
            raise StackError(f"{self.compose_path} disagrees with the stack definition; fix it (tests/compose "
                             "checks the same):\n  - " + "\n  - ".join(problems))
        self._secrets = RunSecrets.generate()
        variables = {**stack_variables(
            d, secrets=self._secrets, run_dir=run_dir, proxy_image=self.proxy_image, profiles=self.profiles,
            bind_host="127.0.0.1" if self.network == "host" else "0.0.0.0", user=self._user()), **self.variables}
        try:
            compose = load_compose(self.compose_path, variables)
        except ComposeFileError as exc:
            raise StackError(str(exc)) from None
        services = self._select(compose)
        self._ensure_images(services)
        self._check_ports_free(services)
        self._create_network_and_volumes(compose, services)
        self._run(services)
        self.timings["start"] = time.perf_counter() - started
        return self._endpoints(run_dir)

    def _user(self) -> tuple[int, int]:
        # Files in the bind-mounted run folder must be the caller's. Rootless engines map the
        # container's root to the caller; elsewhere the containers run as the caller's uid.
        info = self.client.info()
        if any("rootless" in str(option) for option in info.get("SecurityOptions") or []):
            return 0, 0
        return os.getuid(), os.getgid()

    def _select(self, compose: ComposeFile) -> dict[str, ServiceSpec]:
        services = compose.active(self.profiles)
        if not journals_needed(self.definition):
            for journal in JOURNALS:
                services.pop(journal.value, None)
        for service in services.values():
            for name, dependency in service.depends_on.items():
                if name not in services and dependency.required:
                    raise StackError(f"service {service.name!r} needs {name!r}, which this run does not start "
                                     f"(profiles {list(self.profiles) or 'none'})")
        return services

    # -- images ----------------------------------------------------------------------------

    def _ensure_images(self, services: Mapping[str, ServiceSpec]) -> None:
        started = time.perf_counter()
        builds = {s.image: s.build for s in services.values() if s.build is not None}
        for image, build in builds.items():
            self._build(image, build)
        for image in sorted({s.image for s in services.values()} - set(builds)):
            self._pull_if_missing(image)
        self.timings["images"] = time.perf_counter() - started

    def _build(self, image: str, build: Build) -> None:
        import docker

        base = build.args.get("BASE_IMAGE")
        if base:  # pulled here, not by the builder: one place says what to do when it cannot be
            self._pull_if_missing(base)
        context = build_context(build.context, build.dockerfile)
        try:
            self.client.images.build(fileobj=context, custom_context=True, encoding="gzip",
                                     dockerfile=build.dockerfile, tag=image, buildargs=build.args,
                                     target=build.target, rm=True, forcerm=True,
                                     network_mode="host" if self.network == "host" else None)
        except docker.errors.BuildError as exc:
            tail = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)
            raise StackError(f"building {image} from {build.dockerfile} failed: {exc.msg}. Last lines of the "
                             f"build:\n{redact(chr(10).join(tail.splitlines()[-15:]))}") from None
        except docker.errors.APIError as exc:
            raise StackError(f"building {image} from {build.dockerfile} failed: {reason_of(exc)}") from None

    def _pull_if_missing(self, image: str) -> None:
        import docker

        try:
            self.client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise StackError(f"cannot pull {image} ({reason_of(exc)}); check the name and tag, the network, or "
                             "`docker login` to its registry. Without a registry, give local images (BASE_IMAGE, "
                             "MLFLOW_IMAGE, PROXY_IMAGE): compose/local-images.sh builds them") from None

    # -- containers ------------------------------------------------------------------------

    def _check_ports_free(self, services: Mapping[str, ServiceSpec]) -> None:
        if self.network == "bridge" and not self.fixed_ports:
            return
        for service in services.values():
            for port in service.ports:
                number = port.container_port if self.network == "host" else port.host_port or port.container_port
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    # As servers bind: a previous run's connections in TIME_WAIT do not hold the port.
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        probe.bind(("127.0.0.1", number))
                    except OSError:
                        raise StackError(
                            f"port {number} on 127.0.0.1 is taken, and service {service.name!r} needs it "
                            f"({'host networking' if self.network == 'host' else 'compose-up'} uses the fixed "
                            "DEFAULT_PORTS); stop what holds it, or run `make compose-down`") from None

    def _labels(self, service: str | None = None) -> dict[str, str]:
        labels = {LABEL_RUN: self.run_id, LABEL_ROOT: str(self.root)}
        if service:
            labels[LABEL_SERVICE] = service
        return labels

    @property
    def network_name(self) -> str:
        return f"hokusai-{self.run_id}"

    def _create_network_and_volumes(self, compose: ComposeFile, services: Mapping[str, ServiceSpec]) -> None:
        if self.network == "bridge":
            self.client.networks.create(self.network_name, driver="bridge", labels=self._labels())
        used = {m.source for s in services.values() for m in s.volumes if not m.bind}
        for volume in sorted(used & set(compose.volumes)):
            self.client.volumes.create(name=f"hokusai-{self.run_id}-{volume}", labels=self._labels())

    def container_options(self, service: ServiceSpec, services: Mapping[str, ServiceSpec]) -> dict[str, Any]:
        """What ``containers.create`` gets for one service of this run."""
        options: dict[str, Any] = {
            "image": service.image, "name": f"hokusai-{self.run_id}-{service.name}", "detach": True,
            "labels": self._labels(service.name), "environment": dict(service.environment),
        }
        if service.command is not None:
            options["command"] = service.command
        if service.entrypoint is not None:
            options["entrypoint"] = service.entrypoint
        if service.user:
            options["user"] = service.user
        options["volumes"] = {
            (m.source if m.bind else f"hokusai-{self.run_id}-{m.source}"): {"bind": m.target,
                                                                              "mode": "ro" if m.read_only else "rw"}
            for m in service.volumes}
        if service.healthcheck is not None:
            check = service.healthcheck
            options["healthcheck"] = {"test": check.test, "interval": _ns(check.interval_s),
                                      "timeout": _ns(check.timeout_s), "retries": check.retries,
                                      "start_period": _ns(check.start_period_s)}
        if self.network == "host":
            options["network_mode"] = "host"
            options["extra_hosts"] = {name: "127.0.0.1" for name in services}
        else:
            options["network"] = self.network_name
            options["networking_config"] = {self.network_name: {"Aliases": [service.name]}}
            options["ports"] = {f"{p.container_port}/tcp": ("127.0.0.1", p.host_port if self.fixed_ports else None)
                                for p in service.ports}
        return options

    def _run(self, services: Mapping[str, ServiceSpec]) -> None:
        """Start the services in ``depends_on`` order; return once every one is healthy or done."""
        one_shots = {name for s in services.values() for name, dep in s.depends_on.items()
                     if dep.condition == "service_completed_successfully"}
        pending = dict(services)
        timeout = max(self.definition.start_timeout_s, 120.0)
        deadline = time.perf_counter() + timeout
        with httpx.Client(timeout=2.0) as http:
            while True:
                for name, service in list(pending.items()):
                    if all(self._meets(http, dep, d.condition) for dep, d in service.depends_on.items()
                           if dep in services):
                        self._launch(service, services)
                        del pending[name]
                self._fail_on_exit(one_shots)
                waiting = [n for n in services if n in pending or not self._meets(
                    http, n, "service_completed_successfully" if n in one_shots else "service_healthy")]
                if not waiting:
                    return
                if time.perf_counter() > deadline:
                    tails = "\n".join(f"--- {n}:\n{self.containers[n].log_tail()}" for n in waiting
                                      if n in self.containers)
                    raise StackError(f"{', '.join(waiting)} did not become healthy within {timeout:.0f} s.\n{tails}")
                time.sleep(0.2)

    def _launch(self, service: ServiceSpec, services: Mapping[str, ServiceSpec]) -> None:
        import docker

        try:
            container = self.client.containers.create(**self.container_options(service, services))
            running = ContainerPart(service.name, container, time.perf_counter())
            self.containers[service.name] = running
            container.start()
        except docker.errors.APIError as exc:
            raise StackError(f"cannot start service {service.name!r}: {reason_of(exc)}") from None
        if service.name in _PART_NAMES:
            self.parts[Part(service.name)] = running
            if self.network == "host":
                running.url = f"http://127.0.0.1:{DEFAULT_PORTS[Part(service.name)]}"

    def _published_url(self, running: ContainerPart) -> str | None:
        """Where the host reaches a running part: the engine chose the port when it started."""
        port = DEFAULT_PORTS[Part(running.service)]
        bindings = (running.container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        loopback = [b for b in bindings.get(f"{port}/tcp") or [] if b.get("HostIp") in ("127.0.0.1", "")]
        return f"http://127.0.0.1:{loopback[0]['HostPort']}" if loopback else None

    def _meets(self, http: httpx.Client, name: str, condition: str) -> bool:
        running = self.containers.get(name)
        if running is None:
            return False
        if running.healthy_after_s is not None:
            return True
        running.container.reload()
        state = running.container.attrs.get("State", {})
        status, health = state.get("Status"), (state.get("Health") or {}).get("Status")
        if running.url is None and status == "running" and running.service in _PART_NAMES:
            running.url = self._published_url(running)
        if condition == "service_completed_successfully":
            done = status == "exited" and state.get("ExitCode") == 0
        elif condition == "service_started":
            done = status == "running"
        else:
            # Docker's health check, or for a part of the stack the process stack's own rule asked
            # from the host: a proxy image without python cannot run the compose health check.
            done = status == "running" and (health == "healthy" or (health is None and name not in _PART_NAMES)
                                            or (running.url is not None and _answers(http, running)))
        if done and condition != "service_started":
            running.healthy_after_s = time.perf_counter() - running.launched_at
            if running.service in _PART_NAMES:
                self.timings[f"start.{running.service}"] = running.healthy_after_s
        return bool(done)

    def _fail_on_exit(self, one_shots: set[str]) -> None:
        for name, running in self.containers.items():
            state = running.container.attrs.get("State", {})
            if state.get("Status") not in ("exited", "dead"):
                continue
            if name in one_shots and state.get("ExitCode") == 0:
                continue
            raise StackError(f"{name} exited with code {state.get('ExitCode')} while starting. Last lines of its "
                             f"log:\n{running.log_tail()}")

    def _endpoints(self, run_dir: Path) -> StackEndpoints:
        d = self.definition
        state_file = run_dir / "state" / "auth-state.json"
        try:
            state = json.loads(state_file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read the fake auth service's state file {state_file} ({exc}); the "
                             "engine must bind-mount this host's folders (a local engine)") from None
        keys = {k["name"]: k for k in state["keys"]}
        if d.scenario_key_name not in keys:
            raise StackError(f"the fake auth service seeded no key named {d.scenario_key_name!r} "
                             f"(seed file {d.seed_file}); add one or choose another scenario key")
        unreachable = sorted(part.value for part, running in self.parts.items() if running.url is None)
        if unreachable:
            raise StackError(f"{', '.join(unreachable)} published no port on 127.0.0.1; check `ports:` in "
                             f"{self.compose_path}")
        url = {part: str(running.url) for part, running in self.parts.items()}
        journal = {part: run_dir / "journals" / f"{part.value}.jsonl" for part in JOURNALS}
        with_journals = d.with_journals and all(part in self.parts for part in JOURNALS)
        self.endpoints = StackEndpoints(
            mlflow_url=url[Part.MLFLOW], auth_url=url[Part.AUTH], proxy_root=url[Part.PROXY],
            proxy_url=url[Part.PROXY] + d.proxy_mount, api_key=keys[d.scenario_key_name]["key"],
            admin_token=d.admin_token, keys=keys, service_id=d.service_id,
            auth_journal=journal[Part.AUTH_JOURNAL] if with_journals else None,
            mlflow_journal=journal[Part.MLFLOW_JOURNAL] if with_journals else None,
            auth_journal_url=url[Part.AUTH_JOURNAL] if with_journals else None,
            mlflow_journal_url=url[Part.MLFLOW_JOURNAL] if with_journals else None,
        )
        return self.endpoints

    # -- faults ----------------------------------------------------------------------------

    def pause(self, part: Part) -> None:
        """Freeze a part: it accepts connections but never answers, like a hung server."""
        self.parts[part].container.pause()

    def resume(self, part: Part) -> None:
        self.parts[part].container.unpause()

    def kill(self, part: Part) -> None:
        """Stop a part for good, and the journal in front of it (the proxy talks to that)."""
        fronted = {upstream: journal for journal, (upstream, _) in JOURNALS.items()}
        for doomed in (part, fronted.get(part)):
            if doomed is not None and doomed in self.parts:
                try:
                    self.parts[doomed].container.kill()
                except Exception:  # already gone: that is what was asked
                    pass

    # -- stop ------------------------------------------------------------------------------

    def stop(self, keep_logs_in: Path | None = None) -> None:
        started = time.perf_counter()
        if self.client is not None:
            if keep_logs_in is not None:
                self._keep_logs(keep_logs_in)
            left = remove_labelled(self.client, self.run_id)
            if left:
                raise StackError(f"could not remove {', '.join(left)} of run {self.run_id}; "
                                 "`make compose-down` removes everything hokusai-contracts created")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        self.timings["stop"] = time.perf_counter() - started

    def _keep_logs(self, folder: Path) -> None:
        known = self._secrets
        hidden = [self.definition.admin_token] + ([known.seed_key, known.postgres_password, known.minio_password]
                                                  if known else [])
        folder.mkdir(parents=True, exist_ok=True)
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={self.run_id}"}):
            service = container.labels.get(LABEL_SERVICE, container.name)
            try:
                text = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            except Exception as exc:
                text = f"(no log: {reason_of(exc)})"
            # Logs are redacted on the way out: a proxy under test may log what it likes.
            (folder / f"{service}.log").write_text(redact(text, hidden), "utf-8")


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _answers(http: httpx.Client, running: ContainerPart) -> bool:
    """The process stack's health rule, asked from the host."""
    try:
        answer = http.get(f"{running.url}{HEALTH_PATHS[Part(running.service)]}")
    except httpx.HTTPError:
        return False
    if running.service == Part.PROXY.value:
        return answer.status_code < 500 or answer.status_code == 503
    return answer.status_code == 200


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


def compose_up(definition: StackDefinition | None = None, *, proxy_image: str | None = None,
               profiles: Sequence[str] = (), network: Literal["bridge", "host"] | None = None,
               client: Any = None) -> DockerStack:
    """Start the stack on the fixed DEFAULT_PORTS and leave it running; ``compose_down`` removes it.

    The returned stack's ``endpoints`` tell where it answers; ``root`` holds the journals and the
    fake's state file (every seeded key) until ``compose_down``.
    """
    client = engine(client)
    labelled = client.containers.list(all=True, filters={"label": LABEL_RUN})
    running = sorted({run for run in (str(c.labels.get(LABEL_RUN)) for c in labelled) if run.startswith(_COMPOSE_RUN)})
    if running:
        raise StackError(f"the compose stack is already up (run {', '.join(running)}); `make compose-down` first")
    stack = DockerStack(definition or StackDefinition(), proxy_image, profiles=profiles, network=network,
                        fixed_ports=True, client=client, run_id=_COMPOSE_RUN + secrets.token_hex(3))
    stack.start()
    return stack


def compose_down(run_id: str | None = None, *, client: Any = None) -> list[str]:
    """Remove what hokusai-contracts created (of one run, or of all): containers, networks, volumes, run folders.

    Returns what was removed, one line each.
    """
    client = engine(client)
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    containers = client.containers.list(all=True, filters={"label": label})
    roots = {c.labels.get(LABEL_ROOT) for c in containers} - {None}
    removed = [f"container {c.name}" for c in containers]
    removed += [f"network {n.name}" for n in client.networks.list(filters={"label": label})]
    removed += [f"volume {v.name}" for v in client.volumes.list(filters={"label": label})]
    left = remove_labelled(client, run_id)
    for root in roots:
        path = Path(str(root))
        # Only folders this module made: a label is data, and rmtree on data is not to be trusted.
        if path.name.startswith(_ROOT_PREFIX) and path.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"folder {path}")
    if left:
        raise StackError(f"could not remove {', '.join(left)}")
    return removed
