"""The Docker engine as the docker runner uses it: the ``docker`` CLI and its compose plugin, as subprocesses.

Nothing here knows the stack. ``require_compose`` stops at once, in one line naming what is
missing and what to do, when there is no ``docker`` command, no compose plugin (2.20 or newer:
the generated file uses ``depends_on.required``) or no engine answering. Variables (secrets among
them) reach ``docker compose`` through its environment, never its argv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_contracts._errors import StackError
from hokusai_contracts.domain.redact import redact

__all__ = ["MIN_COMPOSE", "Compose", "docker_available", "require_compose", "rootless_engine"]

MIN_COMPOSE = (2, 20)
_HINT = "or run the default process stack with `make contract-local`"
_ENGINE_TIMEOUT_S = 20.0


def _docker() -> str:
    docker = shutil.which("docker")
    if docker is None:
        raise StackError(f"the docker stack needs the `docker` command, and none is on PATH; install Docker Engine "
                         f"with the compose plugin, {_HINT}")
    return docker


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return redact(lines[0] if lines else "no output")[:300]


def _run(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise StackError(f"`{' '.join(argv[1:3])}` did not finish within {timeout:.0f} s; check that the Docker "
                         f"engine answers (`docker info`), {_HINT}") from None
    except OSError as exc:
        raise StackError(f"cannot run {argv[0]} ({exc.strerror}); {_HINT}") from None


def require_compose() -> str:
    """The compose plugin's version, once the engine answered; else StackError (one line, exit 2)."""
    docker = _docker()
    version = _run([docker, "compose", "version"], 20)  # "Docker Compose version v2.29.1"
    found = re.search(r"\bv?(\d+)\.(\d+)\.\d+", version.stdout)
    if version.returncode != 0 or found is None:
        raise StackError(f"the docker stack needs Docker Compose v2 (`docker compose`), which is not installed "
                         f"({_first_line(version.stderr or version.stdout)}); install the compose plugin "
                         f"{MIN_COMPOSE[0]}.{MIN_COMPOSE[1]} or newer, {_HINT}")
    if (int(found.group(1)), int(found.group(2))) < MIN_COMPOSE:
        raise StackError(f"Docker Compose {found.group(0)} is too old for the docker stack; install "
                         f"{MIN_COMPOSE[0]}.{MIN_COMPOSE[1]} or newer, {_HINT}")
    info = _run([docker, "info", "--format", "{{.ServerVersion}}"], _ENGINE_TIMEOUT_S)
    if info.returncode != 0 or not info.stdout.strip():
        where = os.environ.get("DOCKER_HOST") or "the current docker context"
        raise StackError(f"no Docker engine reachable at {where} ({_first_line(info.stderr)}); start Docker and "
                         f"retry, {_HINT}")
    return found.group(0)


def docker_available() -> str | None:
    """None if a Docker engine and compose answer, else one line saying what is missing."""
    try:
        require_compose()
    except StackError as exc:
        return str(exc)
    return None


def rootless_engine() -> bool:
    """A rootless engine maps the container's root to the caller; elsewhere containers run as the caller's uid."""
    info = _run([_docker(), "info", "--format", "{{json .SecurityOptions}}"], _ENGINE_TIMEOUT_S)
    return "rootless" in info.stdout


@dataclass(frozen=True)
class Compose:
    """``docker compose`` for one project and its files, with the run's variables in its environment."""

    project: str
    files: tuple[Path, ...]
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    profiles: tuple[str, ...] = ()

    def argv(self, *args: str) -> list[str]:
        files = [option for path in self.files for option in ("-f", str(path))]
        profiles = [option for profile in self.profiles for option in ("--profile", profile)]
        # --env-file /dev/null: a compose/.env written for use by hand must not change a run.
        return [_docker(), "compose", "-p", self.project, *files, "--env-file", os.devnull, *profiles, *args]

    def run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(*args), timeout, env=self.variables)

    def checked(self, *args: str, timeout: float = 120.0, hidden: Sequence[str] = ()) -> str:
        """Run a command; its output, or StackError with the tail of what compose said."""
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise StackError(f"`docker compose {args[0]}` failed (exit {done.returncode}) for project {self.project}:\n"
                             f"{redact(tail, hidden)}")
        return done.stdout + done.stderr
