"""The Docker engine as the docker runner needs it: a client that answered, labels, clean-up, build contexts.

Nothing here knows the stack. ``connect`` finds the engine as the ``docker`` CLI would
(``DOCKER_HOST``, else the current docker context, else the default socket) and pings it with a
short timeout, so a missing engine is reported in a second, with where it was looked for and why
it did not answer.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import tarfile
from pathlib import Path
from typing import Any

from hokusai_contracts._errors import StackError

__all__ = ["LABEL_ROOT", "LABEL_RUN", "LABEL_SERVICE", "build_context", "connect", "docker_available", "engine",
           "reason_of", "remove_labelled"]

#: Every container, network and volume the runner creates carries ``LABEL_RUN=<run id>``.
LABEL_RUN = "hokusai-contracts.run"
LABEL_SERVICE = "hokusai-contracts.service"
#: The run's host folder (journals, state), so that ``compose down`` can remove it too.
LABEL_ROOT = "hokusai-contracts.root"
_DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_HINT = "run the default process stack with `make contract-local`, or start Docker and retry"


def _engine_address() -> str:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    try:
        from docker.context import ContextAPI

        return str(ContextAPI.get_current_context().Host or _DEFAULT_SOCKET)
    except Exception:  # a broken ~/.docker/config.json must not hide the real problem
        return _DEFAULT_SOCKET


def reason_of(exc: BaseException) -> str:
    """The useful end of a docker-py error chain: 'Connection refused', not three wrapped reprs."""
    explanation = getattr(exc, "explanation", None)  # the engine's own words, on an APIError
    if isinstance(explanation, str) and explanation:
        return explanation
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    found = re.findall(r"\w+Error\(\d+, '([^']+)'\)", text)
    if found:
        return str(found[-1])
    return text.splitlines()[0][:200] if text else type(exc).__name__


def connect(timeout: float = 3.0) -> tuple[Any, str | None]:
    """A client of an engine that answered a ping, or (None, why not)."""
    where = _engine_address()
    try:
        import docker
    except ImportError:
        return None, "the docker Python package is not installed: `pip install -c constraints.txt docker`"
    try:
        if os.environ.get("DOCKER_HOST"):
            client = docker.from_env(timeout=int(max(timeout, 1)))
        else:
            from docker.context import ContextAPI

            context = ContextAPI.get_current_context()
            client = docker.DockerClient(base_url=context.Host or _DEFAULT_SOCKET, tls=context.TLSConfig or False,
                                         timeout=int(max(timeout, 1)))
        client.ping()
    except Exception as exc:  # docker-py raises DockerException, requests' errors, or OSError
        return None, f"no Docker engine reachable at {where} ({reason_of(exc)})"
    # Builds and pulls stream for minutes; only the ping had to be quick.
    client.api.timeout = 600
    return client, None


def docker_available() -> str | None:
    """None if a Docker engine answers, else one line saying where none did and why."""
    client, reason = connect()
    if client is not None:
        client.close()
    return reason


def engine(client: Any | None) -> Any:
    """The given client, else one of an engine that answered; StackError (what, where, what next) if none."""
    if client is not None:
        return client
    connected, reason = connect()
    if connected is None:
        raise StackError(f"{reason}; {_HINT}")
    return connected


def build_context(context: Path, dockerfile: str) -> io.BytesIO:
    """A gzipped tar of what ``<dockerfile>.dockerignore`` lets through (the subset: ``*``, ``!path``, ``**/glob``).

    Entries carry no owner or time, so an unchanged tree gives the builder the same context and
    every cached layer is reused.
    """
    ignore_file = context / f"{dockerfile}.dockerignore"
    try:
        lines = [line.strip() for line in ignore_file.read_text("utf-8").splitlines()]
    except OSError as exc:
        raise StackError(f"cannot read {ignore_file} ({exc.strerror}): it lists the build context") from None
    patterns = [line for line in lines if line and not line.startswith("#") and line != "*"]
    included = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    excluded = [p.removeprefix("**/") for p in patterns if not p.startswith("!")]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for top in included:
            root = context / top
            files = [root] if root.is_file() else sorted(f for f in root.rglob("*") if f.is_file())
            for path in files:
                relative = path.relative_to(context)
                if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in excluded):
                    continue
                info = tarfile.TarInfo(relative.as_posix())
                info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    buffer.seek(0)
    return buffer


def remove_labelled(client: Any, run_id: str | None = None) -> list[str]:
    """Remove the containers, networks and volumes of one run (or of every run); what is left."""
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    left: list[str] = []
    for container in client.containers.list(all=True, filters={"label": label}):
        _remove(lambda c=container: c.remove(force=True, v=True), f"container {container.name}", left)
    for network in client.networks.list(filters={"label": label}):
        _remove(network.remove, f"network {network.name}", left)
    for volume in client.volumes.list(filters={"label": label}):
        _remove(lambda v=volume: v.remove(force=True), f"volume {volume.name}", left)
    return left


def _remove(action: Any, what: str, left: list[str]) -> None:
    try:
        action()
    except Exception as exc:
        if "No such" not in str(exc) and "not found" not in str(exc).lower():
            left.append(f"{what} ({reason_of(exc)})")
