"""The process runner: the stack's plan executed as real processes on loopback.

Every part runs in its own session (process group) and its own working directory under one
temporary directory (mode 0700; the parts' files 0600: it holds the seeded keys and the admin
token), logging to a file there. Parts start as soon as what they need is healthy, so the slow
MLflow server starts first and in parallel with the rest. A part that dies or stays unhealthy
fails the start with its name and the tail of its log. Teardown signals whole process groups and
removes the directory on every exit path: an error, Ctrl-C, SIGTERM, and, through the watchdog
(``watchdog.py``), a runner killed with SIGKILL.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_contracts._errors import StackError, Terminated
from hokusai_contracts.domain.masked import masked_repr
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.stack.definition import HEALTH_PATHS, JOURNALS, MLFLOW_SIDE_JOURNAL, Part, StackDefinition
from hokusai_contracts.stack.health import Stack, StackEndpoints, assemble_endpoints, start_in_order
from hokusai_contracts.stack.mlflow_env import mlflow_environment
from hokusai_contracts.stack.plan import PartPlan, Site, StackPlan, build_plan, check_mlflow_cmd, check_proxy_cmd
from hokusai_contracts.stack.ports import lost_its_port
from hokusai_contracts.stack.postgres import PostgresInstall, find_postgres
from hokusai_contracts.stack.stores import StoreSecrets, describe_stores, mlflow_store_env, store_parts

__all__ = ["ProcessStack", "RunningPart", "Stack", "StackEndpoints", "describe", "free_port", "free_ports",
           "running_stack", "sigterm_as_interrupt", "terminate_group", "terminate_groups"]

_WATCHDOG = Path(__file__).with_name("watchdog.py")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(host: str) -> dict[Part, int]:
    """A free port for every part (a taken one is found when its part starts: ``start_in_order``'s relocate)."""
    return {part: free_port(host) for part in Part}


@dataclass
class RunningPart:
    part: Part
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    launched_at: float

    @property
    def health_url(self) -> str:
        return self.url + HEALTH_PATHS[self.part]

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return redact("\n".join(text.splitlines()[-lines:]))


@dataclass
class ProcessSite(Site):
    """Loopback, free ports, the stack's temporary directory; MLflow's stores as parts of their own."""

    postgres: PostgresInstall | None = None
    store_secrets: StoreSecrets = field(default_factory=StoreSecrets.generate)

    def store_parts(self, definition: StackDefinition) -> dict[Part, PartPlan]:
        return store_parts(definition, self, self.postgres, self.store_secrets)

    def mlflow_store_env(self, definition: StackDefinition) -> dict[str, str]:
        return mlflow_store_env(definition, self, self.store_secrets)


@dataclass
class ProcessStack:
    definition: StackDefinition = field(default_factory=StackDefinition)
    proxy_cmd: str | None = None
    parts: dict[Part, RunningPart] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    root: Path | None = None
    endpoints: StackEndpoints | None = None
    plan: StackPlan | None = None
    #: The backend and artifact stores MLflow ran on, as the report's targets name them.
    stores: tuple[str, str] = ("sqlite", "local, proxied")
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    __repr__ = masked_repr("endpoints", "proxy_cmd", "root")  # where it answers, secrets masked

    # -- start -----------------------------------------------------------------------------

    def start(self) -> StackEndpoints:
        # Bad input is refused before anything exists that would have to be undone.
        check_proxy_cmd(self.proxy_cmd)
        check_mlflow_cmd(self.definition.mlflow_cmd)
        borrowed = self.definition.mlflow_url is not None
        environment = None if borrowed else mlflow_environment(self.definition.mlflow_version,
                                                               packages=self.definition.mlflow_packages)
        # No PostgreSQL server on this machine: exit 2 with how to get one, before anything starts.
        postgres = find_postgres() if self.definition.backend_store == "postgresql" and not borrowed else None
        started = time.perf_counter()
        self.root = Path(tempfile.mkdtemp(prefix="hokusai-stack-"))  # mode 0700
        try:
            self._start_watchdog()
            return self._start(environment.mlflow if environment else "",
                               str(environment.python) if environment else "", postgres, started)
        except BaseException:
            self.stop()
            raise

    def _start(self, mlflow: str, mlflow_python: str, postgres: PostgresInstall | None,
               started: float) -> StackEndpoints:
        d, root = self.definition, self.root
        assert root is not None
        for folder in ("state", "journals", Part.MLFLOW.value):
            (root / folder).mkdir(mode=0o700)
        site = ProcessSite(
            python=sys.executable, mlflow=mlflow, bind_host=d.host, ports=free_ports(d.host),
            hosts=dict.fromkeys(Part, d.host), run_dir=str(root), seed_file=str(d.seed_file),
            unreachable_url=f"http://{d.host}:{free_port(d.host)}",
            mlflow_stores=(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}", str(root / "mlflow" / "artifacts")),
            mlflow_python=mlflow_python,
            postgres=postgres,
        )
        if postgres is not None and postgres.account is not None:
            _hand_over(root / Part.POSTGRES.value, postgres.account)
        self.plan = build_plan(d, site, self.proxy_cmd)
        self.stores = describe_stores(d, postgres)
        start_in_order(self.plan, self, d.start_timeout_s, self.timings,
                       relocate=lambda part: self._relocated(site, part))
        self.timings["start"] = time.perf_counter() - started
        urls = {part: running.url for part, running in self.parts.items()}
        if d.mlflow_url is not None:
            urls[Part.MLFLOW] = d.mlflow_url
        self.endpoints = assemble_endpoints(
            d, urls, Path(site.state_file),
            {journal: Path(site.journal_file(journal)) for journal in (*JOURNALS, *MLFLOW_SIDE_JOURNAL)})
        return self.endpoints

    def _relocated(self, site: ProcessSite, part: Part) -> StackPlan | None:
        """The plan with ``part`` on a new free port, when it exited because another process took its port."""
        assert self.plan is not None
        if not lost_its_port(site.bind_host, self.plan.parts[part].port, self.parts[part].log_tail()):
            return None
        site.ports = {**site.ports, part: free_port(site.bind_host)}
        self.plan = build_plan(self.definition, site, self.proxy_cmd)
        return self.plan

    def _start_watchdog(self) -> None:
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", str(_WATCHDOG), str(self.root)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _tell_watchdog(self, line: str) -> None:
        watchdog = self._watchdog
        if watchdog is None or watchdog.stdin is None or watchdog.stdin.closed:
            return
        try:
            watchdog.stdin.write(f"{line}\n".encode())
            watchdog.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it died: teardown below still runs, only a SIGKILL of the runner is unguarded

    # -- the launcher start_in_order drives ------------------------------------------------------

    def launch(self, plan: PartPlan) -> None:
        assert self.root is not None
        part = plan.part
        workdir = self.root / part.value
        if part in self.parts:  # launched again on a new port (start_in_order's relocate): the old one goes first,
            self._end(self.parts[part].process)  # and its files (PostgreSQL's initdb refuses a data dir it finds)
            for leftover in workdir.iterdir():
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        workdir.mkdir(mode=0o700, exist_ok=True)
        log_path = workdir / f"{part.value}.log"
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **plan.env}
        try:
            process = subprocess.Popen(
                plan.argv[0] if plan.shell else list(plan.argv), shell=plan.shell,
                # A user's PROXY_CMD runs where the user typed it, so its relative paths mean what
                # they meant, and makes its files as the user's umask says; its log is still ours.
                cwd=Path.cwd() if plan.shell else workdir, umask=-1 if plan.shell else 0o077,
                env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, user=plan.user, group=_group_of(plan.user), extra_groups=_no_groups(plan.user),
            )
        finally:
            os.close(log)
        self._tell_watchdog(str(process.pid))
        self.parts[part] = RunningPart(part, f"http://{self.definition.host}:{plan.port}", process, log_path,
                                       workdir, time.perf_counter())

    def base_url(self, part: Part) -> str | None:
        return self.parts[part].url if part in self.parts else None

    def exit_status(self, part: Part) -> str | None:
        code = self.parts[part].process.poll()
        return None if code is None else f"exited with code {code}"

    def log_tail(self, part: Part) -> str:
        return self.parts[part].log_tail() if part in self.parts else "(not started)"

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
        fronted = {upstream: journal for journal, (upstream, _) in JOURNALS.items()}
        for doomed in (part, fronted.get(part)):
            if doomed is not None and doomed in self.parts:
                self._end(self.parts[doomed].process)

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        # SIGKILL: an outage is abrupt, and a graceful stop would wait for keep-alive clients.
        _killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._tell_watchdog(f"-{process.pid}")

    # -- stop ------------------------------------------------------------------------------

    def stop(self, keep_logs_in: Path | None = None) -> None:
        started = time.perf_counter()
        try:
            running = list(self.parts.values())
            for part in running:
                if part.part is Part.MLFLOW:
                    # Its stores are this stack's temporary files, removed below: a graceful stop (1.4 s
                    # of uvicorn shutting down) would keep nothing.
                    _killpg(part.process.pid, signal.SIGKILL)
            terminate_groups([part.process for part in running], self.definition.stop_timeout_s)
            for part in running:
                self._tell_watchdog(f"-{part.process.pid}")
            if keep_logs_in is not None and self.root is not None and self.root.exists():
                self._keep_logs(keep_logs_in)
        finally:
            # Whatever failed above: the directory holds every seeded key and the admin token.
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            self._stop_watchdog()
            self.timings["stop"] = time.perf_counter() - started

    def _keep_logs(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for running in self.parts.values():
                if running.log_path.exists():
                    # Redacted on the way out: a proxy under test may log what it likes.
                    text = redact(running.log_path.read_text("utf-8", errors="replace"), [self.definition.admin_token])
                    (folder / running.log_path.name).write_text(text, "utf-8")
        except OSError as exc:
            raise StackError(f"cannot keep the stack's logs in {folder} ({exc.strerror or exc}); choose a "
                             "writable REPORT_DIR") from None

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        if watchdog.stdin is not None:
            watchdog.stdin.close()  # its cue: every group it still knows of is ended, then it exits
        try:
            watchdog.wait(10)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()


def _hand_over(folder: Path, account: str) -> None:
    """A folder of the stack's directory for a part that runs as another account (PostgreSQL, when we are root).

    The stack's directory becomes traversable by others (0711: a name must be known, nothing can be
    listed; every other folder in it stays 0700), and the folder is that account's alone.
    """
    import pwd

    entry = pwd.getpwnam(account)
    folder.mkdir(mode=0o700)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder.parent, 0o711)


def _group_of(user: str | None) -> int | None:
    import pwd

    return None if user is None else pwd.getpwnam(user).pw_gid


def _no_groups(user: str | None) -> list[int] | None:
    # root's supplementary groups must not go along to the unprivileged account.
    return None if user is None else []


def terminate_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """End a part's process group: SIGTERM, then SIGKILL after ``timeout`` (also what an exited leader left)."""
    terminate_groups([process], timeout)


def terminate_groups(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """End several process groups at once: each gets SIGTERM now, SIGKILL once ``timeout`` has passed
    for all of them (a stack's stop takes its slowest part's time, not the sum of all)."""
    for process in processes:
        if process.poll() is None:
            _killpg(process.pid, signal.SIGCONT)  # a paused group cannot act on SIGTERM
            _killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _killpg(process.pid, signal.SIGKILL)  # what is left, and children of an exited leader
        process.wait()


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``Terminated`` (a KeyboardInterrupt) for the block, so teardown runs as on Ctrl-C."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; elsewhere the caller's own handling stands
        return

    def on_sigterm(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def running_stack(definition: StackDefinition | None = None, proxy_cmd: str | None = None,
                  keep_logs_in: Path | None = None) -> Iterator[ProcessStack]:
    """Start a stack, yield it, and stop it whatever happens (exceptions, Ctrl-C, SIGTERM)."""
    check_proxy_cmd(proxy_cmd)
    check_mlflow_cmd((definition or StackDefinition()).mlflow_cmd)
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
        f"  MLflow server : {endpoints.mlflow_url}" + (" (behind a gateway)" if endpoints.mlflow_auth_journal else ""),
        f"  auth service  : {endpoints.auth_url}",
        f"  MLflow proxy  : {endpoints.proxy_url}",
        f"  API key       : {mask(endpoints.api_key)} (service {endpoints.service_id})",
        f"  shell example : MLFLOW_TRACKING_URI={shlex.quote(endpoints.proxy_url)} MLFLOW_TRACKING_TOKEN=<key>",
    ])
