"""Where and when a local run's faults suite runs: on a stack of its own, beside the suites.

The faults break one upstream at a time and then mostly wait (for the proxy's timeouts): seconds
of an idle machine at the end of every run. They need a stack nobody else is using while they
break it, not the run's own: so a process run starts a second, small one while the scenario runs
(the fake auth service, its journals and another instance of the proxy under test, all on ports of
their own, in front of the run's MLflow) and runs the faults there while the suites fuzz the
run's stack. "MLflow unreachable" stops that stack's journal in front of MLflow (what the proxy
sees of an MLflow that is gone: a refused connection); the run's MLflow is never broken.

When the faults' stack cannot be had (the docker backend, a proxy that cannot run twice, a start
that fails, an MLflow side that validates keys with the run's auth service), they run after the
suites on the run's stack, as they always did, and a warning says why. Their traffic is added to
the run's journals when the stack stops, so the recorded traffic (``REPORT_DIR/traffic``) keeps it.

When the run found the proxy refusing the valid key, or MLflow down (``mlflow_blocked``), the auth
cases still run (an outage has its documented answer whatever the key) and the MLflow cases are
skipped as a consequence of that first cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hokusai_contracts.checks.probes.faults import DEFAULT_WAIT_S, run_faults
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.names import PhaseName
from hokusai_contracts.report.phase import PhaseResult
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import StackDefinition, mlflow_side_calls_auth
from hokusai_contracts.stack.processes import ProcessStack, Stack, StackEndpoints

__all__ = ["FaultsPlace", "ProxySettings"]

Out = Callable[[str], None]


@dataclass(frozen=True)
class ProxySettings:
    """What the proxy under test is started with, and the upstream timeouts the faults expect of it."""

    env: dict[str, str]
    timeouts: UpstreamTimeouts


class FaultsPlace:
    def __init__(self, stack: Stack, endpoints: StackEndpoints, definition: StackDefinition,
                 proxy_cmd: str | None, delay_s: float, timeouts: UpstreamTimeouts, logs: Path | None = None, *,
                 contract: Contract, wait_s: float = DEFAULT_WAIT_S,
                 own: ProxySettings | None = None) -> None:
        self.stack, self.endpoints, self.definition, self.proxy_cmd = stack, endpoints, definition, proxy_cmd
        #: Where the faults' own stack leaves its logs (the proxy instance they broke, for one).
        self.delay_s, self.timeouts, self.logs = delay_s, timeouts, logs
        #: The proxy's settings on the faults' own stack (default: the run's).
        self.own = own or ProxySettings(definition.proxy_env, timeouts)
        #: The proxy contract the answers are judged by; how long past a fault's delay a probe waits.
        self.contract, self.wait_s = contract, wait_s
        #: Set by the run to the first cause it found that the MLflow cases would only meet again
        #: (``faults.KEY_REFUSED``, ``faults.MLFLOW_DOWN``): they are then skipped as its consequence.
        self.mlflow_blocked: str | None = None
        self.warnings: list[str] = []
        self._own: ProcessStack | None = None
        self._starting: threading.Thread | None = None
        self._running: threading.Thread | None = None
        self._lines: list[str] = []
        self._result: PhaseResult | None = None
        self._error: BaseException | None = None
        #: The faults' stack's journal entries, by the run's journal they are added to at ``close``.
        self._kept: dict[Path, bytes] = {}

    def prepare(self) -> None:
        """Start the faults' own stack in the background (process stacks only)."""
        if not isinstance(self.stack, ProcessStack):
            return
        if mlflow_side_calls_auth(self.definition):
            # The run's MLflow side (a gateway, MLFLOW_CMD) validates keys with the run's auth service,
            # which does not know the keys a second fake auth service would issue.
            self.warnings.append("the faults ran after the suites on the run's stack: the MLflow side validates "
                                 "keys with the run's auth service, so a stack of their own cannot share it")
            return
        own = ProcessStack(self.own_definition(), self.proxy_cmd)

        def start() -> None:
            try:
                own.start()
            except Exception as exc:  # noqa: BLE001 - told as a warning; the faults then run on the run's stack
                self.warnings.append(f"the faults ran after the suites on the run's stack: their own stack did not "
                                     f"start ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
                return
            self._own = own

        self._starting = threading.Thread(target=start, name="faults-stack", daemon=True)
        self._starting.start()

    def own_definition(self) -> StackDefinition:
        """The faults' own stack: the run's, in front of the run's MLflow, its proxy started with ``own.env``."""
        # The run's MLflow by its root URL: the prefix is added where the proxy is pointed at it.
        root = self.endpoints.mlflow_url.removesuffix(self.endpoints.mlflow_prefix)
        return replace(self.definition, mlflow_url=root, proxy_env=dict(self.own.env))

    def start_beside(self) -> None:
        """Run the faults now on their own stack, once it is up (the suites are about to start)."""
        if self._starting is None:
            return

        def run() -> None:
            assert self._starting is not None
            self._starting.join()
            own = self._own
            if own is None or own.endpoints is None:
                return  # result() runs them on the run's stack
            started = time.perf_counter()
            try:
                result = self._run(own, own.endpoints, self._lines.append, self.own.timeouts)
            except BaseException as exc:  # re-raised by result(), in the run's thread
                self._error = exc
                return
            # Beside the suites: a part of the run's time in parallel, not a phase of its own.
            result.timings = {f"{PhaseName.FAULTS}.beside_suites": round(time.perf_counter() - started, 3)}
            self._result = result
            self._stop_own()  # done with it: stopped now, while the suites still run

        self._running = threading.Thread(target=run, name="faults", daemon=True)
        self._running.start()

    def result(self, out: Out) -> PhaseResult:
        """The faults' phase: the run beside the suites (its lines printed now), else run here on the run's stack."""
        if self._running is not None:
            waited = time.perf_counter()
            self._running.join()
            for line in self._lines:
                out(line)
            if self._error is not None:
                raise self._error
            if self._result is not None:
                self._result.timings[PhaseName.FAULTS] = round(time.perf_counter() - waited, 3)
                return self._result
        result = self._run(self.stack, self.endpoints, out, self.timeouts)
        result.warnings += self.warnings
        return result

    def _run(self, stack: Stack, endpoints: StackEndpoints, out: Out, timeouts: UpstreamTimeouts) -> PhaseResult:
        return run_faults(stack, endpoints, self.delay_s, out, timeouts=timeouts, contract=self.contract,
                          mlflow_blocked=self.mlflow_blocked, wait_s=self.wait_s)

    def close(self) -> None:
        """Stop the faults' own stack if still up; add its journals' entries to the run's (recorded traffic).

        Added only now, once the run's journals are written no more: their own processes append to
        them while the suites run.
        """
        if self._starting is not None:
            self._starting.join()
        if self._running is not None:
            self._running.join()
        self._stop_own()
        for journal, entries in self._kept.items():
            with journal.open("ab") as out:
                out.write(entries)
        self._kept = {}

    def _stop_own(self) -> None:
        own, self._own = self._own, None
        if own is None:
            return
        try:
            if own.endpoints is not None:
                for mine, theirs in ((self.endpoints.auth_journal, own.endpoints.auth_journal),
                                     (self.endpoints.mlflow_journal, own.endpoints.mlflow_journal)):
                    if mine is not None and theirs is not None and theirs.exists():
                        self._kept[mine] = theirs.read_bytes()
        finally:
            own.stop(self.logs)
