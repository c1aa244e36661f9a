"""``make contract-live``: safe checks against the real endpoints, ending in a diagnosis.

Targets: the real proxy, auth service and (optionally) MLflow, reached through one gate (safety
policy, rate limit, budget). Phases, in order: verify-proxy (is everything up?), auth-service
(what does the auth service say of the key?), bearer-auth (does the proxy take it?), investigate
(which routes answer?), the registration scenario and the read-only contract suites (only when
the parts are up and the key gets in: otherwise they would only repeat the first failure a
thousand times), performance, and always cleanup. The report shows the real URLs, never the
loopback pass-through's.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from hokusai_contracts import __version__
from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.live.auth_checks import run_auth_checks
from hokusai_contracts.checks.live.bearer_checks import run_bearer_checks
from hokusai_contracts.checks.live.cleanup import cleanup_phase
from hokusai_contracts.checks.live.investigate import run_investigation
from hokusai_contracts.checks.live.performance import (
    PERFORMANCE_FILE,
    Performance,
    compare_with_baseline,
    measure,
    render_performance,
)
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.checks.live.stores import StoreWatch
from hokusai_contracts.checks.probes.http import probe
from hokusai_contracts.checks.probes.preflight import run_preflight
from hokusai_contracts.checks.scenario import ModelKind, run_registration, scenario_checks, warm_imports
from hokusai_contracts.checks.suites.context import SuiteContext
from hokusai_contracts.checks.suites.runner import run_pytest_suites, suite_checks
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import mlflow_side, requires_credentials
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.names import LIVE_SCHEMATHESIS_SUITES, PhaseName, Suite
from hokusai_contracts.domain.redact import mask, redact
from hokusai_contracts.report.model import CheckStatus, Report, Targets
from hokusai_contracts.report.phase import Check, Phase, PhaseResult, RunState
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import Inputs, load_inputs, report_dir_ready
from hokusai_contracts.run.mlflow_versions import detect_mlflow_version, live_contracts
from hokusai_contracts.run.pipeline import Step, run_phases
from hokusai_contracts.safety.egress import GUARD_STATUS, Egress, running_egress
from hokusai_contracts.safety.gate import BudgetExhausted, Gate, Refused
from hokusai_contracts.safety.policy import SafetyPolicy, Target
from hokusai_contracts.safety.transport import gated_client
from hokusai_contracts.settings import LiveSettings
from hokusai_contracts.traffic.har import TrafficRecorder

__all__ = ["CLEANUP_RESERVE", "LiveOptions", "ProbeExperiment", "check_hosts_resolve", "run_live"]

#: Requests kept back from the budget so that cleanup can always run.
CLEANUP_RESERVE = 20


@dataclass
class LiveOptions:
    report_dir: Path = Path("reports")
    keep: bool = False
    suites: list[Suite] = field(default_factory=lambda: list(LIVE_SCHEMATHESIS_SUITES))
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])
    #: RECORD=1: every exchange the run had, as HAR per hop in REPORT_DIR/traffic/, the key a placeholder.
    record: bool = False
    #: ``watch``: the scenario registers into this experiment, which cleanup keeps (it deletes the run's
    #: runs and models instead); the run sets it when it had to create one.
    probe: ProbeExperiment | None = None


@dataclass
class ProbeExperiment:
    """A ``contract-probe-*`` experiment shared by the runs of a watch (MLflow only soft-deletes experiments)."""

    experiment_id: str | None = None


def _from_gate(finding: Finding) -> bool:
    return any(exchange.status == GUARD_STATUS for exchange in finding.exchanges) \
        or finding.observed.startswith(str(GUARD_STATUS))


def _rewriter(egress: Egress, secrets: list[str]) -> Callable[[str], str]:
    """Loopback pass-through URLs back to the real ones, and secrets masked."""
    urls = egress.real_urls()

    def rewrite(text: str) -> str:
        for loopback, real in urls.items():
            text = text.replace(loopback, real)
        return redact(text, secrets)

    return rewrite


def check_hosts_resolve(settings: LiveSettings) -> None:
    """A host name that does not resolve is a typo, not an outage: refuse it before anything is sent."""
    for variable, url in (("HOKUSAI_PROXY_URL", settings.proxy_url), ("HOKUSAI_AUTH_URL", settings.auth_url),
                          ("HOKUSAI_MLFLOW_URL", settings.mlflow_url)):
        if not url:
            continue
        host = urlsplit(url).hostname or ""
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"{variable}: host {host!r} does not resolve ({reason}); check the URL. "
                             "Nothing was sent.") from None


def run_live(settings: LiveSettings, options: LiveOptions, out: Callable[[str], None] = print) -> Report:
    with report_dir_ready(options.report_dir):
        inputs = load_inputs()
        # A bad overlay is exit 2 before anything is sent.
        mlflow_side(inputs.mlflow, "", settings.mlflow_overlay, inputs.root)
        check_hosts_resolve(settings)
        return _LiveRun(settings, options, inputs, out).run()


class _LiveRun:
    """One live run: the gate and the phases that share it."""

    def __init__(self, settings: LiveSettings, options: LiveOptions, inputs: Inputs,
                 out: Callable[[str], None]) -> None:
        self.settings, self.options, self.inputs, self.out = settings, options, inputs, out
        #: The suites' contract files read in the pinned pair's place (the live server's version's).
        self.contract_files: dict[str, str] = {}
        self.perf = Performance()
        self.healthy = False
        self.warm = threading.Thread(target=warm_imports, name="warm-imports", daemon=True)

    def run(self) -> Report:
        settings, options, inputs = self.settings, self.options, self.inputs
        report = Report(tool_version=__version__, mode="live", targets=Targets(
            proxy_url=settings.proxy_url, auth_url=settings.auth_url, mlflow_url=settings.mlflow_url or None,
            proxy="live"))
        fold = Fold(report, inputs.deviations, coverage_of=(inputs.auth, inputs.proxy))
        logs = options.report_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        traffic = logs / "live-traffic.jsonl"
        traffic.write_text("")
        bases = {Target.PROXY: settings.proxy_url, Target.AUTH: settings.auth_url,
                 Target.ORIGIN: "{0.scheme}://{0.netloc}".format(urlsplit(settings.proxy_url))}
        if settings.mlflow_url:
            bases[Target.MLFLOW] = settings.mlflow_url
        self.policy = SafetyPolicy(settings.key, inputs.auth, inputs.mlflow)
        recorder = TrafficRecorder(options.report_dir, settings.key) if options.record else None
        self.gate = Gate(self.policy, bases, settings.rate_limit, settings.request_budget - CLEANUP_RESERVE,
                         log_path=traffic)
        if recorder is not None:
            self.gate.listener = recorder.add
        self.stores = StoreWatch(then=self.gate.listener)  # which stores production shows (its own traffic)
        self.gate.listener = self.stores
        direct = settings.mlflow_url or "(skipped)"
        self.out(f"Live run: proxy {settings.proxy_url}, auth {settings.auth_url}, MLflow {direct}")
        self.out(f"  key {mask(settings.key)}, at most {settings.rate_limit:g} requests/s and "
                 f"{settings.request_budget} requests"
                 + (f", CA bundle {settings.ca_bundle}" if settings.ca_bundle else ""))
        self.warm.start()
        started = time.perf_counter()
        with gated_client(self.gate, settings.verify, settings.timeout_s) as client, \
                running_egress(self.gate, settings.verify, settings.timeout_s) as egress:
            say = _rewriter(egress, [settings.key])

            def tell(line: str) -> None:
                self.out(say(line))

            fold.out = tell
            self.egress = egress
            self._choose_mlflow_contracts(client, fold)
            inputs = self.inputs
            self.probes = LiveProbes(
                client=client, proxy_url=settings.proxy_url, auth_url=settings.auth_url,
                mlflow_url=settings.mlflow_url, api_key=settings.key, auth_contract=inputs.auth,
                proxy_contract=inputs.proxy, mlflow_contract=inputs.mlflow, timeout_s=settings.timeout_s, out=tell)
            try:
                run_phases(self.phases(), fold, tell, guard=self.guard)
            finally:
                if recorder is not None:
                    recorder.close()
        fold.add(PhaseResult(timings={"total": round(time.perf_counter() - started, 3)}))
        fold.add(_gate_record(self.gate))
        fold.add(_stores_seen(self.stores, inputs.proxy, settings.proxy_url, fold.report.targets))
        fold.add(PhaseResult(files={PERFORMANCE_FILE: render_performance(self.perf)}))
        report = fold.finish(rewrite=say)
        fold.write(options.report_dir)
        return report

    # -- the phases ---------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        probes = self.probes

        def checks(action: Callable[[LiveProbes], None]) -> Callable[[RunState], PhaseResult]:
            def run(state: RunState) -> PhaseResult:
                action(probes)
                return probes.take()
            return run

        return [
            Step(PhaseName.VERIFY_PROXY, self.verify_proxy, suite=Suite.VERIFY_PROXY),
            Step(PhaseName.AUTH_SERVICE, checks(run_auth_checks), suite=Suite.AUTH_SERVICE),
            Step(PhaseName.BEARER_AUTH, checks(run_bearer_checks), suite=Suite.BEARER_AUTH),
            Step(PhaseName.INVESTIGATE, checks(run_investigation), suite=Suite.INVESTIGATE),
            Step(PhaseName.SCENARIO, self.skipped, when=lambda state: self.blocked() is not None),
            Step(PhaseName.SCENARIO, self.scenario, when=lambda state: self.blocked() is None, suite=Suite.SCENARIO),
            Step(PhaseName.SUITES, self.suites, when=lambda state: self.blocked() is None, suite=Suite.SUITES),
            Step(PhaseName.PERFORMANCE, self.performance, when=lambda state: self.healthy, suite=Suite.PERFORMANCE),
            Step(PhaseName.CLEANUP, self.cleanup, always=True),
        ]

    def _choose_mlflow_contracts(self, client: httpx.Client, fold: Fold) -> None:
        """The live server's MLflow version (GET /version) chooses the contracts, before any check relies on them."""
        settings, inputs = self.settings, self.inputs
        version = detect_mlflow_version(client, settings.mlflow_url, settings.proxy_url, settings.key)
        versioned, warnings = live_contracts(version)
        if versioned is not None:
            self.inputs = inputs = replace(inputs, mlflow=Contract.load(versioned.mlflow, root=inputs.root),
                                           proxy=Contract.load(versioned.proxy, root=inputs.root))
        # The gateway's rules (HOKUSAI_MLFLOW_OVERLAY): what direct reads carry, and are judged by.
        self.inputs = inputs = replace(inputs, mlflow=mlflow_side(inputs.mlflow, "", settings.mlflow_overlay,
                                                                  inputs.root))
        self.policy = self.gate.policy = SafetyPolicy(settings.key, inputs.auth, inputs.mlflow)
        if versioned is not None:
            self.contract_files = {name: path.relative_to(inputs.directory).as_posix() for name, path in
                                   (("mlflow.yaml", versioned.mlflow), ("mlflow-proxy.yaml", versioned.proxy))}
        fold.deviations = inputs.deviations.for_mlflow(version)
        fold.coverage_of = [inputs.auth, inputs.proxy]
        fold.add(PhaseResult(targets=fold.report.targets.model_copy(update={
            "mlflow_version": version, "mlflow_overlay": inputs.mlflow.display_path.partition(" + ")[2] or None}),
            warnings=warnings + self._gateway_notice(client)))

    def _gateway_notice(self, client: httpx.Client) -> list[str]:
        """Whether MLflow's URL answers 401 without a key (a gateway in front of it), and what follows."""
        settings = self.settings
        if not settings.mlflow_url:
            return []
        answer = probe("GET", settings.mlflow_url + "/api/2.0/mlflow/experiments/search", client=client,
                       params={"max_results": "1"}, timeout=settings.timeout_s)
        if answer.status != 401:
            return []
        self.out(f"MLflow at {settings.mlflow_url} answers 401 without a key: a gateway stands in front of it")
        if requires_credentials(self.inputs.mlflow):
            return [f"MLflow at {settings.mlflow_url} answers 401 without a key (a gateway): direct reads carry the "
                    f"key and are judged by {self.inputs.mlflow.display_path}"]
        return [f"MLflow at {settings.mlflow_url} answers 401 without a key (a gateway), and its contract requires "
                "none: set HOKUSAI_MLFLOW_OVERLAY=contracts/mlflow-gateway.overlay.yaml to send the key to it and "
                "judge direct reads by the gateway's rules; without it they see only 401s"]

    def guard(self, phase: Phase, state: RunState) -> PhaseResult:
        """The live safety policy around a phase: titled, timed, and a refusal recorded, not raised.

        A step without a suite sends nothing of its own (a notice, the cleanup): it runs as it is.
        """
        suite = getattr(phase, "suite", None)
        if suite is None:
            return phase.run(state)
        began = time.perf_counter()
        state.out(f"\n— {phase.name} —")
        try:
            result = phase.run(state)
        except BudgetExhausted as exc:
            result = self.probes.take()
            result.warnings.append(f"{exc}: the remaining checks were skipped; raise HOKUSAI_REQUEST_BUDGET "
                                   "to run them")
            result.stop = True
            state.out(f"\n! {exc}: the remaining checks are skipped.")
        except Refused as exc:
            result = self.probes.take()
            result.checks.append(Check(suite=suite, name="refused by the live safety policy",
                                       status=CheckStatus.ERROR, message=str(exc)))
        result.timings[phase.name] = round(time.perf_counter() - began, 3)
        return result

    def blocked(self) -> str | None:
        """Why the scenario and the suites cannot tell anything new, if they cannot."""
        if not self.healthy:
            return "a part is down or too slow (verify-proxy)"
        if self.probes.facts.key_accepted is not True:
            return "the proxy does not let the key in"
        return None

    def verify_proxy(self, state: RunState) -> PhaseResult:
        settings = self.settings
        preflight = run_preflight(settings.proxy_url, settings.auth_url, settings.mlflow_url or None,
                                  settings.key, timeout=min(settings.timeout_s, 15.0), client=self.probes.client,
                                  contracts=self.inputs)
        self.healthy = preflight.healthy
        for check in preflight.checks:
            check.announce = True
        return preflight.result()

    def skipped(self, state: RunState) -> PhaseResult:
        why = self.blocked()
        state.out(f"\nSkipping the registration scenario and the contract suites: {why}.")
        return PhaseResult(checks=[Check(suite=suite, name="skipped", status=CheckStatus.SKIPPED,
                                         message=f"not run: {why}") for suite in (Suite.SCENARIO, Suite.SUITES)])

    def scenario(self, state: RunState) -> PhaseResult:
        self.warm.join()
        gate, tracking_uri = self.egress.gate, self.egress.base(Target.PROXY)
        result = PhaseResult()
        probe = self.options.probe
        for kind in self.options.models:
            waited_before, began = gate.waited_s, time.perf_counter()
            reused = probe.experiment_id if probe is not None else None
            if reused:
                self.policy.created.experiment.add(reused)  # the watch's own, made by an earlier run
            outcome = run_registration(tracking_uri, self.settings.key, model_kind=kind,
                                       health_url=tracking_uri + "/health/mlflow", out=state.out,
                                       experiment_id=reused)
            if probe is not None and outcome.experiment_id:
                if reused and outcome.experiment_id != reused:
                    self.policy.created.experiment.discard(reused)  # it was gone: a new one took its place
                probe.experiment_id = outcome.experiment_id
            result.checks += scenario_checks(outcome)
            if outcome.ok:
                # The scenario's own time, without the pauses the rate limit imposed on it.
                seconds = time.perf_counter() - began - (gate.waited_s - waited_before)
                self.perf.registration.samples_ms.append(round(seconds * 1000, 1))
        return result

    def suites(self, state: RunState) -> PhaseResult:
        settings, egress = self.settings, self.egress
        suites = [s for s in self.options.suites if s is not Suite.MLFLOW_DIRECT or settings.mlflow_url]
        with tempfile.TemporaryDirectory(prefix="hokusai-live-") as workdir:
            # The context file holds the key: it lives in a private temporary directory, gone after the suites.
            context = SuiteContext(
                mode="live", proxy_url=egress.base(Target.PROXY), auth_url=egress.base(Target.AUTH),
                mlflow_url=egress.base(Target.MLFLOW) if settings.mlflow_url else None, api_key=settings.key,
                mlflow_requires_key=requires_credentials(self.inputs.mlflow),
                contracts_dir=self.inputs.directory, display_root=self.inputs.root, contract_files=self.contract_files,
                results_file=Path(workdir) / "results.jsonl", max_examples=settings.live_max_examples,
                live_safe_only=True, suites=suites, request_timeout_s=settings.timeout_s,
            )
            results, walls = run_pytest_suites(context, Path(workdir), state.out) if suites else ([], {})
        result = suite_checks(results, drop=_from_gate)
        result.timings.update(walls)
        return result

    def performance(self, state: RunState) -> PhaseResult:
        perf, settings = self.perf, self.settings
        measure(self.probes, settings.perf_samples, perf)
        overhead = perf.proxy_overhead_ms()
        lines = [f"auth validate p50 {perf.auth_validate.p50} ms, p95 {perf.auth_validate.p95} ms",
                 f"read through the proxy p50 {perf.proxy_read.p50} ms, p95 {perf.proxy_read.p95} ms"]
        if overhead is not None:
            lines.append(f"direct p50 {perf.direct_read.p50} ms: proxy overhead {overhead} ms")
        if perf.registration.samples_ms:
            lines.append(f"registration p50 {perf.registration.p50} ms")
        for line in lines:
            state.out(f"  {line}")
        check = compare_with_baseline(perf, settings.perf_baseline, settings.perf_tolerance)
        state.out(f"  baseline: {check.message}")
        return PhaseResult(checks=[check], metrics=perf.metrics())

    def cleanup(self, state: RunState) -> PhaseResult:
        self.gate.budget += CLEANUP_RESERVE
        probe = self.options.probe
        spare = frozenset({probe.experiment_id}) if probe is not None and probe.experiment_id else frozenset()
        return cleanup_phase(self.probes, self.policy.created, self.options.keep, spare)


def _stores_seen(watch: StoreWatch, proxy: Contract, proxy_url: str, targets: Targets) -> PhaseResult:
    """The probe experiment's artifact-location scheme in the targets; unreachable locations as findings."""
    found = watch.findings(proxy, proxy_url)
    seen = watch.scheme is not None or bool(found)  # none seen is no pass: the scenario stopped before its experiment
    check = Check(suite=Suite.SCENARIO, name="artifact locations", status=CheckStatus.PASSED if seen else
                  CheckStatus.SKIPPED, findings=found, cases=len(watch.answers),
                  message=f"artifact location scheme of the probe experiment: {watch.scheme or 'not seen'}" if seen
                  else "no artifact location was handed to the client in this run")
    return PhaseResult(checks=[check] if watch.answers else [],
                       targets=targets.model_copy(update={"artifact_location_scheme": watch.scheme}))


def _gate_record(gate: Gate) -> PhaseResult:
    result = PhaseResult(metrics={"live.requests_sent": float(gate.sent),
                                  "live.rate_limit_wait_s": round(gate.waited_s, 3)})
    unsafe = [r for r in gate.refusals if not r.budget]
    if unsafe:
        result.checks.append(Check(
            suite=Suite.LIVE_SAFETY, name="requests refused by the safety policy", status=CheckStatus.FAILED,
            cases=len(unsafe), message="; ".join(sorted({r.reason for r in unsafe}))[:2000]))
    spent = [r for r in gate.refusals if r.budget]
    if spent:
        result.warnings.append(f"{len(spent)} requests were not sent: the request budget was spent")
    return result
