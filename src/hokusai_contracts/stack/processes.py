"""The process runner: the local stack as real processes on loopback.

Every part runs in its own session (process group) and its own temporary
working directory, logging to a file there. Slow parts start first and in
parallel: MLflow takes seconds to become healthy, the fakes under one. A part
that dies or stays unhealthy fails the start with its name and the tail of
its log; teardown signals whole process groups, so nothing is left behind,
also after a failure or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from hokusai_contracts._errors import StackError
from hokusai_contracts.domain.masked import masked_repr
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.stack.definition import HEALTH_PATHS, JOURNAL_FAULTS, Part, StackDefinition

__all__ = ["ProcessStack", "RunningPart", "Stack", "StackEndpoints", "free_port", "running_stack"]



def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningPart:
    part: Part
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    launched_at: float
    healthy_after_s: float | None = None

    @property
    def health_url(self) -> str:
        return self.url + HEALTH_PATHS[self.part]

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return redact("\n".join(text.splitlines()[-lines:]))


@dataclass(frozen=True)
class StackEndpoints:
    """Where a started stack answers, and the credentials it was seeded with."""

    mlflow_url: str
    auth_url: str
    proxy_root: str
    proxy_url: str  # the MLflow tracking URI: proxy root + mount
    api_key: str
    admin_token: str
    keys: Mapping[str, Mapping[str, str]]
    service_id: str
    auth_journal: Path | None = None
    mlflow_journal: Path | None = None
    auth_journal_url: str | None = None
    mlflow_journal_url: str | None = None
    __repr__ = masked_repr()  # pytest -l and debuggers print it: the key, token and seeded keys masked


class Stack(Protocol):
    """What the run needs of a started stack, whether processes (ProcessStack) or containers (DockerStack)."""

    root: Path | None
    timings: dict[str, float]
    endpoints: StackEndpoints | None

    def kill(self, part: Part) -> None: ...

    def stop(self, keep_logs_in: Path | None = None) -> None: ...


@dataclass
class ProcessStack:
    definition: StackDefinition = field(default_factory=StackDefinition)
    proxy_cmd: str | None = None
    parts: dict[Part, RunningPart] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    root: Path | None = None
    endpoints: StackEndpoints | None = None
    __repr__ = masked_repr("endpoints", "proxy_cmd", "root")  # where it answers, secrets masked

    # -- start -----------------------------------------------------------------------------

    def start(self) -> StackEndpoints:
        started = time.perf_counter()
        self.root = Path(tempfile.mkdtemp(prefix="hokusai-stack-"))
        try:
            return self._start(started)
        except BaseException:
            self.stop()
            raise

    def _start(self, started: float) -> StackEndpoints:
        d = self.definition
        ports = {part: free_port(d.host) for part in Part}
        url = {part: f"http://{d.host}:{ports[part]}" for part in Part}
        assert self.root is not None
        state_file = self.root / "auth-state.json"

        self._launch(Part.MLFLOW, url[Part.MLFLOW], self._mlflow_argv(ports[Part.MLFLOW]),
                     {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        self._launch(Part.AUTH, url[Part.AUTH], [
            sys.executable, "-m", "hokusai_mocks.fake_auth", "--host", d.host, "--port", str(ports[Part.AUTH]),
            "--seed", str(d.seed_file), "--profile", d.auth_profile, "--state-file", str(state_file),
        ], {"FAKE_AUTH_ADMIN_TOKEN": d.admin_token})
        auth_target, mlflow_target = url[Part.AUTH], url[Part.MLFLOW]
        if d.with_journals or d.mlflow_fault in JOURNAL_FAULTS:
            for journal, upstream, hop in ((Part.AUTH_JOURNAL, url[Part.AUTH], "proxy->auth"),
                                           (Part.MLFLOW_JOURNAL, url[Part.MLFLOW], "proxy->mlflow")):
                fault = d.mlflow_fault if journal is Part.MLFLOW_JOURNAL and d.mlflow_fault != "down" else "none"
                self._launch(journal, url[journal], [
                    sys.executable, "-m", "hokusai_contracts.journal.recording", "--upstream", upstream,
                    "--hop", hop, "--out", str(self.root / f"{journal}.jsonl"),
                    "--host", d.host, "--port", str(ports[journal]),
                    "--fault", fault, "--fault-delay", str(d.fault_delay_s),
                ])
            auth_target, mlflow_target = url[Part.AUTH_JOURNAL], url[Part.MLFLOW_JOURNAL]
        if d.mlflow_fault == "down":
            # MLflow "down" as the proxy sees it: nothing listens where it sends MLflow calls.
            mlflow_target = f"http://{d.host}:{free_port(d.host)}"

        # A proxy may look at its upstreams when it starts: give it a listening auth service.
        self._wait_healthy([p for p in self.parts if p is not Part.MLFLOW])
        proxy_env = {
            "PORT": str(ports[Part.PROXY]), "HOKUSAI_AUTH_SERVICE_URL": auth_target,
            "MLFLOW_SERVER_URL": mlflow_target, "AUTH_SERVICE_ID": d.service_id, **d.proxy_env,
        }
        self._launch(Part.PROXY, url[Part.PROXY], self._proxy_argv(ports[Part.PROXY], auth_target, mlflow_target),
                     proxy_env, shell=self.proxy_cmd is not None)
        self._wait_healthy(list(self.parts))
        self.timings["start"] = time.perf_counter() - started

        state = json.loads(state_file.read_text("utf-8"))
        keys = {k["name"]: k for k in state["keys"]}
        if d.scenario_key_name not in keys:
            raise StackError(f"the fake auth service seeded no key named {d.scenario_key_name!r} "
                             f"(seed file {d.seed_file}); add one or choose another scenario key")
        self.endpoints = StackEndpoints(
            mlflow_url=url[Part.MLFLOW], auth_url=url[Part.AUTH], proxy_root=url[Part.PROXY],
            proxy_url=url[Part.PROXY] + d.proxy_mount, api_key=keys[d.scenario_key_name]["key"],
            admin_token=d.admin_token, keys=keys, service_id=d.service_id,
            auth_journal=self.root / "auth-journal.jsonl" if d.with_journals else None,
            mlflow_journal=self.root / "mlflow-journal.jsonl" if d.with_journals else None,
            auth_journal_url=url[Part.AUTH_JOURNAL] if d.with_journals else None,
            mlflow_journal_url=url[Part.MLFLOW_JOURNAL] if d.with_journals else None,
        )
        return self.endpoints

    def _mlflow_argv(self, port: int) -> list[str]:
        mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
        if mlflow is None:
            raise StackError("MLflow is not installed in this environment. Run `make venv` (or "
                             "`pip install -c constraints.txt -e .`) and try again.")
        workdir = self._workdir(Part.MLFLOW)
        return [mlflow, "server", "--host", self.definition.host, "--port", str(port), "--workers", "1",
                "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
                "--artifacts-destination", str(workdir / "artifacts")]

    def _proxy_argv(self, port: int, auth_url: str, mlflow_url: str) -> list[str]:
        if self.proxy_cmd is None:
            return [sys.executable, "-m", "hokusai_mocks.reference_proxy", "--host", self.definition.host,
                    "--port", str(port), "--auth-url", auth_url, "--mlflow-url", mlflow_url,
                    "--service-id", self.definition.service_id]
        try:
            command = self.proxy_cmd.format(port=port, auth_url=auth_url, mlflow_url=mlflow_url,
                                            host=self.definition.host, service_id=self.definition.service_id)
        except (KeyError, IndexError, ValueError) as exc:
            raise StackError(f"PROXY_CMD has an unknown placeholder or a stray brace ({exc}); "
                             "use {port}, {auth_url}, {mlflow_url}, {host}, {service_id}, and {{ }} for "
                             "literal braces") from None
        return [command]

    def _workdir(self, part: Part) -> Path:
        assert self.root is not None
        workdir = self.root / part.value
        workdir.mkdir(exist_ok=True)
        return workdir

    def _launch(self, part: Part, url: str, argv: list[str], env: Mapping[str, str] | None = None,
                *, shell: bool = False) -> None:
        workdir = self._workdir(part)
        log_path = workdir / f"{part.value}.log"
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        # A user's PROXY_CMD runs where the user typed it, so its relative paths mean what they meant;
        # its log still goes to the part's temporary directory.
        cwd = Path.cwd() if shell else workdir
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv[0] if shell else argv, shell=shell, cwd=cwd, env=environment,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.parts[part] = RunningPart(part, url, process, log_path, workdir, time.perf_counter())

    def _wait_healthy(self, parts: list[Part]) -> None:
        deadline = time.perf_counter() + self.definition.start_timeout_s
        pending = [p for p in parts if self.parts[p].healthy_after_s is None]
        # Generous: a proxy's health check may itself wait on a slow upstream before answering.
        with httpx.Client(timeout=10.0) as client:
            while pending:
                for part in list(pending):
                    running = self.parts[part]
                    if running.process.poll() is not None:
                        raise StackError(f"{part} exited with code {running.process.returncode} while starting. "
                                         f"Last lines of {running.log_path.name}:\n{running.log_tail()}")
                    if self._answers(client, running):
                        running.healthy_after_s = time.perf_counter() - running.launched_at
                        self.timings[f"start.{part}"] = running.healthy_after_s
                        pending.remove(part)
                if pending and time.perf_counter() > deadline:
                    names = ", ".join(str(p) for p in pending)
                    tails = "\n".join(f"--- {p} ({self.parts[p].health_url}):\n{self.parts[p].log_tail()}"
                                      for p in pending)
                    raise StackError(f"{names} did not become healthy within "
                                     f"{self.definition.start_timeout_s:.0f} s.\n{tails}")
                if pending:
                    time.sleep(0.1)

    def _answers(self, client: httpx.Client, running: RunningPart) -> bool:
        try:
            answer = client.get(running.health_url)
        except httpx.HTTPError:
            return False
        if running.part in (Part.PROXY, Part.AUTH):
            # Up once it answers its health route at all: whether it says "healthy" is a check of
            # its own (preflight), not a start condition; a fault may make it answer 503 on purpose.
            return answer.status_code < 600
        return answer.status_code == 200

    # -- faults ----------------------------------------------------------------------------

    def pause(self, part: Part) -> None:
        """Freeze a part (SIGSTOP): it accepts connections but never answers, like a hung server."""
        os.killpg(self.parts[part].process.pid, signal.SIGSTOP)

    def resume(self, part: Part) -> None:
        os.killpg(self.parts[part].process.pid, signal.SIGCONT)

    def kill(self, part: Part) -> None:
        """Stop a part for good: its port refuses connections, like a service that is down.

        The journal in front of it goes too: the proxy talks to the journal, and a journal
        answering 502 for a dead upstream is not what a dead upstream looks like.
        """
        for doomed in (part, _JOURNAL_OF.get(part)):
            if doomed is not None and doomed in self.parts:
                # SIGKILL: an outage is abrupt, and a graceful stop would wait for keep-alive clients.
                process = self.parts[doomed].process
                _killpg(process.pid, signal.SIGKILL)
                process.wait()

    # -- stop ------------------------------------------------------------------------------

    def stop(self, keep_logs_in: Path | None = None) -> None:
        started = time.perf_counter()
        for running in reversed(list(self.parts.values())):
            _terminate(running.process, self.definition.stop_timeout_s)
        if keep_logs_in is not None and self.root is not None:
            keep_logs_in.mkdir(parents=True, exist_ok=True)
            for running in self.parts.values():
                if running.log_path.exists():
                    # Logs are redacted on the way out: a proxy under test may log what it likes.
                    target = keep_logs_in / running.log_path.name
                    target.write_text(redact(running.log_path.read_text("utf-8", errors="replace")), "utf-8")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        self.timings["stop"] = time.perf_counter() - started


_JOURNAL_OF = {Part.MLFLOW: Part.MLFLOW_JOURNAL, Part.AUTH: Part.AUTH_JOURNAL}


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        _killpg(process.pid, signal.SIGKILL)  # children of an exited leader may linger
        return
    _killpg(process.pid, signal.SIGCONT)  # a paused group cannot act on SIGTERM
    _killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    _killpg(process.pid, signal.SIGKILL)
    process.wait()


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt for the block, so teardown runs as it does on Ctrl-C."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; elsewhere the caller's own handling stands
        return

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def running_stack(definition: StackDefinition | None = None, proxy_cmd: str | None = None,
                  keep_logs_in: Path | None = None) -> Iterator[ProcessStack]:
    """Start a stack, yield it, and stop it whatever happens (exceptions, Ctrl-C, SIGTERM)."""
    stack = ProcessStack(definition or StackDefinition(), proxy_cmd)
    with sigterm_as_interrupt():
        try:
            stack.start()
            yield stack
        finally:
            stack.stop(keep_logs_in)


def describe(endpoints: StackEndpoints) -> str:
    """A few lines telling where the stack answers, with the key masked."""
    from hokusai_contracts.domain.redact import mask

    return "\n".join([
        f"  MLflow server : {endpoints.mlflow_url}",
        f"  auth service  : {endpoints.auth_url}",
        f"  MLflow proxy  : {endpoints.proxy_url}",
        f"  API key       : {mask(endpoints.api_key)} (service {endpoints.service_id})",
        f"  shell example : MLFLOW_TRACKING_URI={shlex.quote(endpoints.proxy_url)} MLFLOW_TRACKING_TOKEN=<key>",
    ])
