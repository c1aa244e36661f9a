"""``hokusai-contracts watch``: a live run every ``--every``, kept, measured, alerted on, shown.

Each round is ``run_live`` as ``contract-live`` runs it (the gate, the safety policy, cleanup), with
the Schemathesis suites off unless asked, its own report directory under ``REPORT_DIR/watch/``,
and a request budget of what the hour has left (``HOKUSAI_WATCH_REQUESTS_PER_HOUR``, at most
``HOKUSAI_REQUEST_BUDGET``): a round that would get too little waits for a later one instead.
Every round registers into the watch's one probe experiment (``LiveOptions.probe``), kept in the
history, so a day of rounds leaves no deleted experiments behind, only the runs and models each
round deleted.

After a round: the history stores it, the alerts compare its causes with the open ones, the metrics
show it, old rounds are pruned (``--keep``). A round that raises is a failed round with its reason;
SIGTERM or Ctrl-C ends the round's phases, its cleanup runs, the round is stored as interrupted, and
the exception goes on to the command (exit 143 / 130). The next start carries on from the history.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hokusai_contracts.checks.live.performance import PERFORMANCE_FILE, Performance
from hokusai_contracts.checks.scenario import ModelKind
from hokusai_contracts.domain.durations import format_duration
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.run.inputs import load_inputs, report_dir_ready
from hokusai_contracts.run.live import CLEANUP_RESERVE, LiveOptions, ProbeExperiment, check_hosts_resolve, run_live
from hokusai_contracts.run.signals import signals_held, signals_released
from hokusai_contracts.settings import LiveSettings
from hokusai_contracts.watch.alerts import Alerter, changes
from hokusai_contracts.watch.history import History
from hokusai_contracts.watch.metrics import WatchMetrics
from hokusai_contracts.watch.page import PageContext, render_page
from hokusai_contracts.watch.rounds import Round, RoundStatus, round_from_report, round_that_failed
from hokusai_contracts.watch.server import StatusServer

__all__ = ["MIN_ROUND_REQUESTS", "WatchOptions", "run_watch"]

#: A round given fewer requests than this would only spend them on a preflight: it waits instead.
MIN_ROUND_REQUESTS = 2 * CLEANUP_RESERVE
ROUNDS_DIR = "watch"
_HOUR_S = 3600.0


@dataclass
class WatchOptions:
    every_s: float
    state: Path
    report_dir: Path = Path("reports")
    once: bool = False
    keep_s: float = 30 * 86400.0
    requests_per_hour: int = 2000
    #: Where /metrics and the page listen; None: not served (``--once`` without a port).
    metrics_address: tuple[str, int] | None = None
    webhook: str | None = None
    suites: list[Suite] = field(default_factory=list)
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])


def run_watch(settings: LiveSettings, options: WatchOptions, out: Callable[[str], None] = print) -> int:
    """Check the input, then watch until SIGTERM (or one round with ``once``); returns the exit code."""
    with report_dir_ready(options.report_dir):
        load_inputs()
        check_hosts_resolve(settings)
        metrics = WatchMetrics()
        watch = _Watch(settings, options, metrics, out)
        server = StatusServer.bind(*options.metrics_address, metrics, watch.page) \
            if options.metrics_address is not None else None
        try:
            watch.history = History.open(options.state)
            if server is not None:
                server.start()
                out(f"Status page {server.url}/ and metrics {server.url}/metrics")
            return watch.loop()
        finally:
            if server is not None:
                server.stop()


class _Watch:
    def __init__(self, settings: LiveSettings, options: WatchOptions, metrics: WatchMetrics,
                 out: Callable[[str], None]) -> None:
        self.settings, self.options, self.metrics, self.out = settings, options, metrics, out
        self.history: History | None = None
        self.alerter = Alerter(options.webhook, out) if options.webhook else None
        self.context = PageContext(every=format_duration(options.every_s), targets={
            "proxy": settings.proxy_url, "auth": settings.auth_url, "MLflow": settings.mlflow_url or "(skipped)"})

    def page(self) -> str:
        if self.history is None:
            return render_page([], [], self.context)
        context = PageContext(self.context.every, self.context.targets, self.history.probe_experiment())
        return render_page(self.history.rounds(30), self.history.open_alerts(), context)

    def loop(self) -> int:
        history = self.history
        assert history is not None
        said = next((r for r in history.rounds(20) if r.success is not None), None)
        if said is not None:  # a restart shows what the last round said until the next one speaks
            self.metrics.update(said, observe=False)
        self.out(f"Watching every {self.context.every} ({history.count()} rounds in {self.options.state}); "
                 f"at most {self.options.requests_per_hour} requests an hour")
        while True:
            began = time.time()
            latest = self.round(history)
            if self.options.once:
                return 0 if latest.status is RoundStatus.PASS else 1
            # A round that overran --every is followed by a breather all the same: a slow service is not
            # probed back to back.
            time.sleep(max(min(self.options.every_s / 10, 60.0), began + self.options.every_s - time.time()))

    def round(self, history: History) -> Round:
        self._prune(history)
        started = time.time()
        budget = min(self.settings.request_budget,
                     self.options.requests_per_hour - history.requests_since(started - _HOUR_S))
        # A round that ran is stored whole: SIGTERM arriving now waits until it is (then ends the watch).
        with signals_held():
            if budget < MIN_ROUND_REQUESTS:
                latest = round_that_failed(started, RoundStatus.SKIPPED, f"{max(budget, 0)} requests left of the "
                                           f"hour's {self.options.requests_per_hour} (HOKUSAI_WATCH_REQUESTS_PER_HOUR)")
            else:
                with signals_released():
                    latest = self._run(history, started, budget)
            return self._conclude(history, latest)

    def _run(self, history: History, started: float, budget: int) -> Round:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
        report_dir = self.options.report_dir / ROUNDS_DIR / f"{stamp}-{secrets.token_hex(2)}"
        probe = ProbeExperiment(history.probe_experiment())
        options = LiveOptions(report_dir=report_dir, suites=list(self.options.suites),
                              models=list(self.options.models), probe=probe)
        lines: list[str] = []
        try:
            report = run_live(self.settings.model_copy(update={"request_budget": budget}), options, lines.append)
        except KeyboardInterrupt:
            # Cleanup ran on the way out; no report says what was sent, the gate's traffic log does.
            with signals_held():
                _write_log(report_dir, lines)
                self._conclude(history, round_that_failed(
                    started, RoundStatus.INTERRUPTED, "SIGTERM or Ctrl-C", requests=_sent(report_dir, budget),
                    report_path=str(report_dir)), probe)
            raise
        except Exception as exc:  # a round that cannot run is a failed round, never the end of the watch
            _write_log(report_dir, lines)
            return self._keep_probe(history, probe, round_that_failed(
                started, RoundStatus.ERROR, f"{type(exc).__name__}: {exc}", requests=_sent(report_dir, budget),
                report_path=str(report_dir)))
        _write_log(report_dir, lines)
        latest = round_from_report(report, started, requests=int(report.metrics.get("live.requests_sent", budget)),
                                   report_path=str(report_dir), latencies_s=_latencies(report_dir))
        return self._keep_probe(history, probe, latest)

    @staticmethod
    def _keep_probe(history: History, probe: ProbeExperiment, latest: Round) -> Round:
        if probe.experiment_id and probe.experiment_id != history.probe_experiment():
            history.set_probe_experiment(probe.experiment_id)
        return latest

    def _conclude(self, history: History, latest: Round, probe: ProbeExperiment | None = None) -> Round:
        if probe is not None:
            self._keep_probe(history, probe, latest)
        stored = history.add(latest)
        change = changes(history.open_alerts(), stored)
        history.set_open_alerts(change.open)
        self.metrics.update(stored)
        why = f" ({stored.reason})" if stored.reason else ""
        self.out(f"Round {stored.id}: {stored.status.value.upper()}{why} in {stored.seconds:.1f} s, "
                 f"{stored.requests} requests, {len(change.open)} open causes ({len(change.firing)} new, "
                 f"{len(change.resolved)} resolved); report {stored.report_path or '-'}")
        if self.alerter is not None:
            self.alerter.notify(change, stored)
        return stored

    def _prune(self, history: History) -> None:
        rounds_dir = (self.options.report_dir / ROUNDS_DIR).resolve()
        for path in history.prune(time.time() - self.options.keep_s):
            folder = Path(path).resolve()
            if folder.is_relative_to(rounds_dir) and folder != rounds_dir:  # only what the watch wrote
                shutil.rmtree(folder, ignore_errors=True)


#: Requests an interrupted round may have had in flight, unlogged: the suites' and the client's at once.
IN_FLIGHT = 10


def _sent(report_dir: Path, budget: int) -> int:
    """What a round without a report sent (interrupted, or failed to run): the gate logs each request it let
    out once answered (or failed), so those lines and what may have been in flight. No log: the round ended
    before its gate, which makes the log before anything is sent; a log that cannot be read: the budget."""
    try:
        with (report_dir / "logs" / "live-traffic.jsonl").open(encoding="utf-8") as log:
            logged = sum('"refused"' not in line for line in log if line.strip())
    except FileNotFoundError:
        return 0
    except OSError:
        return budget
    return min(budget, logged + IN_FLIGHT)


def _latencies(report_dir: Path) -> dict[str, list[float]]:
    try:
        perf = Performance.model_validate_json((report_dir / PERFORMANCE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: [ms / 1000 for ms in getattr(perf, name).samples_ms]
            for name in ("auth_validate", "proxy_read", "direct_read", "registration")}


def _write_log(report_dir: Path, lines: list[str]) -> None:
    """The round's own output beside its report (the watch's log gets one line per round)."""
    if not lines:
        return
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "watch-round.log").write_text(redact("\n".join(lines)) + "\n", "utf-8")
    except OSError:
        pass
