"""``make contract-local``: the local stack, the registration scenario, the suites, the report.

Targets: a local stack (processes, or docker with ``--stack docker``) of the fake auth service,
MLflow and the proxy under test, with hop journals in front of auth and MLflow. No safety policy:
everything is ours. Phases, in order: preflight, the registration scenario(s), the credential
probes, the large artifact, concurrency (``--full``), the Schemathesis suites, the hop journals,
the faults. A part found down by preflight skips the phases that would only time out against it;
a valid key the proxy refuses makes the large artifact and the faults consequences, skipped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from hokusai_contracts import __version__
from hokusai_contracts.checks.hop_journals import (
    ConsumerExpectations,
    findings_so_far,
    judge_hop_journals,
    scenario_entries,
)
from hokusai_contracts.checks.probes.artifacts import run_large_artifact
from hokusai_contracts.checks.probes.concurrency import run_concurrency
from hokusai_contracts.checks.probes.credentials import refuses_valid_key, run_credential_probes
from hokusai_contracts.checks.probes.preflight import Preflight, run_preflight
from hokusai_contracts.checks.replay import load_replay, run_replay
from hokusai_contracts.checks.scenario import ModelKind, run_registration, scenario_checks, warm_imports
from hokusai_contracts.checks.suites.runner import DEFAULT_MAX_EXAMPLES, SuiteOptions, run_local_suites
from hokusai_contracts.checks.suites.server import warm_suite_server
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import mlflow_side, requires_credentials
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import DEFAULT_LOCAL_SUITES, SCHEMATHESIS_SUITES, PhaseName, Suite
from hokusai_contracts.journal.front import front_journal
from hokusai_contracts.report.model import CheckStatus, Report, Targets
from hokusai_contracts.report.phase import Check, Phase, PhaseResult, RunState
from hokusai_contracts.run.faults import FaultsPlace
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import CONSUMERS, Inputs, load_inputs, report_dir_ready
from hokusai_contracts.run.local_stack import mlflow_side_targets, stack_definition
from hokusai_contracts.run.mlflow_diff import ContractsFor, committed_only
from hokusai_contracts.run.mlflow_versions import VersionPlan, client_scenarios, mlflow_diffs, prepare_versions
from hokusai_contracts.run.pipeline import Step, run_phases
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import Part
from hokusai_contracts.stack.processes import ProcessStack, Stack, describe, running_stack
from hokusai_contracts.stack.seed import check_seed
from hokusai_contracts.traffic.har import write_journal_har
from hokusai_contracts.traffic.records import Recorded

__all__ = ["LocalOptions", "run_local", "suites_to_run"]

#: The committed expectations a reference-proxy run compares its proxy->auth journal with.
CONSUMER_FILE = "mlflow-proxy.yaml"
#: Findings printed the moment the scenario's traffic shows them (the rest wait for the report).
_FIRST_SHOWN = 5


@dataclass
class LocalOptions:
    report_dir: Path = Path("reports")
    proxy_cmd: str | None = None
    auth_profile: str = "production"
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])
    # Schemathesis suites to run (None: ``chosen_suites``' default); the hop journals are judged
    # whatever this holds, since they are what the scenario's traffic is checked by.
    suites: list[Suite] | None = None
    full: bool = False
    max_examples: int | None = None
    faults: bool = True
    mlflow_fault: str = "none"
    fault_delay_s: float = 6.0
    # HOKUSAI_PROXY_TIMEOUTS (auth=5,mlflow=30): a proxy's own upstream timeouts; else the stack's.
    proxy_timeouts: str | None = None
    artifact_mb: int = 50
    stack: str = "process"  # or "docker"
    # Add what the reference proxy sends, and contracts/consumers/mlflow-proxy.yaml lacks, to that
    # committed file (UPDATE_CONSUMERS=1); without it a run only warns.
    update_consumers: bool = False
    proxy_image: str | None = None
    #: MLFLOW_VERSION (None: the pinned one) and MLFLOW_CLIENTS (run/mlflow_versions.py).
    mlflow_version: str | None = None
    mlflow_clients: list[str] = field(default_factory=list)
    #: How each version's contracts are found: the command passes one that generates what is not committed.
    contracts_for: ContractsFor = committed_only
    #: REPLAY=path.har: a recording whose client->proxy exchanges are sent again, in order (checks.replay).
    replay: Path | None = None
    #: MLFLOW_CMD, MLFLOW_PREFIX, MLFLOW_PACKAGES: the MLflow side (stack.plan).
    mlflow_cmd: str | None = None
    mlflow_prefix: str = ""
    mlflow_packages: tuple[str, ...] = ()
    #: MLFLOW_OVERLAY: the security and statuses the MLflow side adds to MLflow's contract (contracts.overlay).
    mlflow_overlay: Path | None = None
    #: SEED: the fake auth service's keys (stack.seed); None: the packaged keys.yaml.
    seed: Path | None = None
    #: PROFILE: the deployment profile the other values came from (run.profiles), for the report.
    profile: str | None = None
    #: The reference admin gateway in front of MLflow (PROFILE=production; MLFLOW_CMD replaces it).
    mlflow_gateway: bool = False
    #: The reference proxy forwards the caller's key to MLflow, as production's does (PROXY_FORWARD_CREDENTIALS).
    proxy_forwards_credentials: bool = False
    #: What the seed's plain platform key must be answered with (status, the body's error), if anything.
    plain_key_refusal: tuple[int, str] | None = None
    #: The reference proxy's patience with MLflow (PROXY_MLFLOW_TIMEOUT_S); None: the stack's short default.
    proxy_mlflow_timeout_s: float | None = None


def run_local(options: LocalOptions, out: Callable[[str], None] = print) -> Report:
    with report_dir_ready(options.report_dir):
        inputs = load_inputs()
        # Before anything starts or is built: a bad MLFLOW_OVERLAY or SEED is exit 2 with nothing to undo.
        mlflow_side(inputs.mlflow, options.mlflow_prefix, options.mlflow_overlay, inputs.root)
        if options.seed is not None:
            check_seed(options.seed)
        # Before anything starts: a bad MLFLOW_VERSION or MLFLOW_CLIENTS is exit 2 with nothing to undo.
        versions = prepare_versions(options.mlflow_version, options.mlflow_clients, out, options.contracts_for)
        mlflow = mlflow_side(Contract.load(versions.contracts.mlflow, root=inputs.root), options.mlflow_prefix,
                             options.mlflow_overlay, inputs.root)
        inputs = replace(inputs, mlflow=mlflow,
                         proxy=Contract.load(versions.contracts.proxy, root=inputs.root),
                         deviations=inputs.deviations.for_mlflow(versions.server))
        # A recording that cannot be replayed is exit 2 before the stack starts.
        replay = load_replay(options.replay, inputs.auth, inputs.mlflow, inputs.proxy) if options.replay else None
        return _LocalRun(options, inputs, out, versions, replay).run()


class _LocalRun:
    def __init__(self, options: LocalOptions, inputs: Inputs, out: Callable[[str], None],
                 versions: VersionPlan, replay: list[Recorded] | None = None) -> None:
        self.options, self.inputs, self.out, self.versions = options, inputs, out, versions
        self.recording = replay
        self.preflight = Preflight()
        self.scenario_count = 0
        self.suite_tests = 0
        # Set when the credential probes saw the valid key refused: later probes would only see that again.
        self.key_refused = False

    def run(self) -> Report:
        options, inputs = self.options, self.inputs
        self.started = time.perf_counter()
        report = Report(tool_version=__version__, mode="local", targets=Targets(proxy=options.proxy_cmd or "reference"))
        fold = Fold(report, inputs.deviations, coverage_of=(inputs.auth, inputs.proxy))
        # `import mlflow, sklearn` costs seconds; doing it while the MLflow server boots takes it off
        # the critical path. So does starting the suites' fork server (its imports) after it, while
        # MLflow still boots on one core.
        suites = bool(suites_to_run(options, self.versions.contracts.reviewed))
        self.warm = threading.Thread(target=_warm, args=(suites,), name="warm-imports", daemon=True)
        self.warm.start()
        with self._stack() as stack:
            endpoints = stack.endpoints
            assert endpoints is not None
            self.stack, self.endpoints = stack, endpoints
            targets = Targets(proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url,
                              mlflow_url=endpoints.mlflow_url, proxy=options.proxy_cmd or "reference")
            targets = mlflow_side_targets(targets, options, self.definition, self.inputs.mlflow)
            fold.add(PhaseResult(timings={k: round(v, 3) for k, v in stack.timings.items()},
                                 targets=self.versions.targets(targets), warnings=self.versions.warnings()))
            timeouts = (UpstreamTimeouts.parse(options.proxy_timeouts) if options.proxy_timeouts
                        else UpstreamTimeouts.from_env(self.definition.proxy_env))
            self.faults_place = FaultsPlace(stack, endpoints, self.definition, options.proxy_cmd,
                                            options.fault_delay_s, timeouts, options.report_dir / "logs" / "faults")
            if options.faults:
                self.faults_place.prepare()  # their own stack starts while the scenario runs
            self.out("Local stack is up:")
            self.out(describe(endpoints))
            # The scenario and the suites talk through a journal in front of the proxy, so that what
            # they sent can be compared with what reached MLflow (alteration in transit).
            assert stack.root is not None
            self.client_journal = stack.root / "journals" / "client-journal.jsonl"
            with front_journal(endpoints.proxy_root, self.client_journal) as front:
                mount = endpoints.proxy_url.removeprefix(endpoints.proxy_root)
                self.client = dataclasses.replace(endpoints, proxy_root=front, proxy_url=front + mount)
                try:
                    run_phases(self.phases(), fold, self.out)
                finally:
                    self.faults_place.close()
            self.write_traffic()
        fold.add(PhaseResult(timings={k: round(v, 3) for k, v in stack.timings.items() if k == "stop"}))
        report = fold.finish()
        fold.write(options.report_dir)
        return report

    def write_traffic(self) -> None:
        """Every hop journal as HAR, ``REPORT_DIR/traffic/<hop>.har``, the key a placeholder (``traffic.har``)."""
        endpoints = self.endpoints
        for hop, journal, base, judged_in_full in (
                (Hop.CLIENT_TO_PROXY, self.client_journal, endpoints.proxy_root, None),
                (Hop.PROXY_TO_AUTH, endpoints.auth_journal, endpoints.auth_url, None),
                # Past the scenario's traffic, the run judged what reached MLflow for leaks only.
                # The journal's paths carry MLflow's prefix already.
                (Hop.PROXY_TO_MLFLOW, endpoints.mlflow_journal,
                 endpoints.mlflow_url.removesuffix(endpoints.mlflow_prefix), self.scenario_count),
                (Hop.MLFLOW_TO_AUTH, endpoints.mlflow_auth_journal, endpoints.auth_url, None)):
            if journal is not None and journal.exists():
                write_journal_har(journal, hop, base, self.options.report_dir, endpoints.api_key,
                                  leaks_only_after=judged_in_full)

    def _stack(self) -> AbstractContextManager[Stack]:
        options = self.options
        self.definition = definition = stack_definition(options, self.versions.server)
        logs = options.report_dir / "logs"
        if options.stack == "docker":
            from hokusai_contracts.stack.docker_stack import running_docker_stack

            return running_docker_stack(definition, options.proxy_image, keep_logs_in=logs)
        return running_stack(definition, options.proxy_cmd, keep_logs_in=logs)

    # -- the phases ---------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        options = self.options

        def healthy(state: RunState) -> bool:
            return self.preflight.healthy

        return [
            Step(PhaseName.PREFLIGHT, self.run_preflight),
            # First, on a stack as fresh as the recorded one was to its client; before the suites, so
            # that what reaches MLflow is judged in full, as the scenario's traffic is.
            Step(PhaseName.REPLAY, self.replay, when=lambda state: self.recording is not None),
            Step(PhaseName.SCENARIO, self.scenarios),
            Step(PhaseName.SCENARIO, self.first_findings),
            Step(PhaseName.CREDENTIALS, self.credentials, when=healthy),
            Step(PhaseName.SUITES, self.suites_skipped, when=lambda state: not healthy(state)),
            Step(PhaseName.LARGE_ARTIFACT, self.consequence(PhaseName.LARGE_ARTIFACT),
                 when=lambda state: bool(options.artifact_mb) and healthy(state) and self.key_refused),
            Step(PhaseName.LARGE_ARTIFACT, self.large_artifact,
                 when=lambda state: bool(options.artifact_mb) and healthy(state) and not self.key_refused),
            Step(PhaseName.CONCURRENCY, self.concurrency, when=lambda state: options.full and healthy(state)),
            # Run even with a part down: the suites phase then only says so, and the journals hold
            # what the scenario sent.
            Step(PhaseName.SUITES, self.suites),
            Step(PhaseName.HOP_JOURNALS, self.hop_journals),
            Step(PhaseName.HOP_JOURNALS, self.tally),
            Step(PhaseName.CLIENTS, self.clients, when=lambda state: bool(self.versions.clients) and healthy(state)),
            Step(PhaseName.MLFLOW_DIFF, lambda state: mlflow_diffs(self.versions, state.out)),
            Step(PhaseName.FAULTS, self.consequence(PhaseName.FAULTS),
                 when=lambda state: options.faults and healthy(state) and self.key_refused),
            Step(PhaseName.FAULTS, self.faults,
                 when=lambda state: options.faults and healthy(state) and not self.key_refused),
        ]

    def run_preflight(self, state: RunState) -> PhaseResult:
        started = time.perf_counter()
        endpoints = self.endpoints
        self.preflight = run_preflight(endpoints.proxy_url, endpoints.auth_url, endpoints.mlflow_url,
                                       endpoints.api_key)
        result = self.preflight.result()
        result.timings[PhaseName.PREFLIGHT] = round(time.perf_counter() - started, 3)
        return result

    def scenarios(self, state: RunState) -> PhaseResult:
        started = time.perf_counter()
        self.warm.join()
        result = PhaseResult(timings={"imports_wait": round(time.perf_counter() - started, 3)})
        health = self.client.proxy_url + "/health/mlflow"
        for kind in self.options.models:
            started = time.perf_counter()
            state.out(f"\n— Registration scenario ({kind.value}) —")
            outcome = run_registration(self.client.proxy_url, self.client.api_key, model_kind=kind,
                                       health_url=health, out=state.out, clean_up=True)
            result.checks += scenario_checks(outcome)
            result.timings[f"{PhaseName.SCENARIO}.{kind.value}"] = round(time.perf_counter() - started, 3)
        return result

    def first_findings(self, state: RunState) -> PhaseResult:
        """The scenario's traffic judged at once: a blocking defect is on screen seconds into the run.

        Printed only: the hop-journal phase judges every journal in full after the suites and
        reports each finding there, once.
        """
        found = [f for f in self.inputs.deviations.apply(
            findings_so_far(self.endpoints, self.inputs.auth, self.inputs.mlflow), date.today()) if not f.known]
        if not found:
            return PhaseResult()
        seconds = round(time.perf_counter() - self.started, 1)
        state.out(f"\n⚠ Found in the scenario's traffic, {seconds} s into the run ({len(found)} unknown; "
                  "the report has them in full after the suites):")
        for finding in found[:_FIRST_SHOWN]:
            state.out(f"  [{finding.hop}] {finding.operation}: {finding.kind.value} at {finding.location}: "
                      f"{finding.observed[:140]}")
        return PhaseResult(metrics={"first_finding_s": seconds})

    def credentials(self, state: RunState) -> PhaseResult:
        state.out("\n— Credentials: refusals on a read, a write and an artifact call; the key sent every way —")
        result = run_credential_probes(self.endpoints, self.inputs.proxy, self.options.plain_key_refusal)
        self.key_refused = refuses_valid_key(result)
        _tell(state, result)
        return result

    def replay(self, state: RunState) -> PhaseResult:
        assert self.recording is not None
        return run_replay(self.recording, self.client.proxy_root, self.endpoints.api_key, state.out)

    def consequence(self, phase: PhaseName) -> Callable[[RunState], PhaseResult]:
        """A phase skipped because the proxy refuses the valid key: its findings would be that refusal again."""
        def skipped(state: RunState) -> PhaseResult:
            message = "skipped: a consequence of the proxy refusing the valid platform key (see bearer-auth)"
            state.out(f"\n{phase}: {message}")
            return PhaseResult(checks=[Check(suite=Suite.FAULTS if phase is PhaseName.FAULTS else Suite.LARGE_ARTIFACT,
                                             name=str(phase), status=CheckStatus.SKIPPED, message=message)])
        return skipped

    def suites_skipped(self, state: RunState) -> PhaseResult:
        # Fuzzing a stack with a part down would only time out thousands of times.
        state.out("\nPreflight found a part down or too slow: the contract suites and faults are skipped.")
        message = "preflight: " + "; ".join(f"[{f.hop}] {f.kind.value}: {f.observed}" for f in self.preflight.findings)
        return PhaseResult(checks=[Check(suite=Suite.SUITES, name="skipped", status=CheckStatus.SKIPPED,
                                         message=message)])

    def large_artifact(self, state: RunState) -> PhaseResult:
        proxy = getattr(self.stack, "parts", {}).get(Part.PROXY)
        pid = proxy.process.pid if isinstance(self.stack, ProcessStack) and proxy else None
        result = run_large_artifact(self.endpoints.proxy_url, self.endpoints.api_key, self.options.artifact_mb, pid)
        _tell(state, result, "Large artifact: ")
        return result

    def concurrency(self, state: RunState) -> PhaseResult:
        state.out("\n— Concurrency: 8 registrations at once —")
        result = run_concurrency(self.endpoints, mlflow_requires_key=requires_credentials(self.inputs.mlflow))
        _tell(state, result)
        return result

    def suites(self, state: RunState) -> PhaseResult:
        options, inputs = self.options, self.inputs
        chosen = suites_to_run(options, self.versions.contracts.reviewed) if self.preflight.healthy else []
        # The proxy->MLflow journal so far holds a real client's valid requests (the scenario, the
        # probes); what the fuzzers send from here on is theirs.
        self.scenario_count = scenario_entries(self.endpoints)
        if options.faults and self.preflight.healthy and not self.key_refused:
            self.faults_place.start_beside()
        assert self.stack.root is not None
        result = run_local_suites(self.client, self.stack.root / "suites",
                                  SuiteOptions(chosen, options.max_examples or DEFAULT_MAX_EXAMPLES,
                                               self.versions.contract_files(), requires_credentials(inputs.mlflow)),
                                  inputs.directory, inputs.root, state.out)
        self.suite_tests = len(result.checks)
        return result

    def hop_journals(self, state: RunState) -> PhaseResult:
        options, inputs = self.options, self.inputs
        reference = options.proxy_cmd is None and options.proxy_image is None
        committed = inputs.consumers_dir / CONSUMER_FILE
        consumers = ConsumerExpectations(committed, f"{inputs.directory.name}/{CONSUMERS}/{CONSUMER_FILE}",
                                         update=options.update_consumers) if reference else None
        return judge_hop_journals(self.endpoints, inputs.auth, inputs.mlflow, scenario_count=self.scenario_count,
                                  consumers=consumers, out=state.out, client_journal=self.client_journal,
                                  mount=self.endpoints.proxy_url.removeprefix(self.endpoints.proxy_root),
                                  proxy=inputs.proxy)

    def tally(self, state: RunState) -> PhaseResult:
        """What the suites and the journals found, as folded (before the faults break things on purpose)."""
        report = state.report
        failed = sum(c.status is CheckStatus.FAILED for c in report.checks)
        state.out(f"{self.suite_tests} suite tests and the hop journals judged; {failed} checks failed, "
                  f"{sum(not f.known for f in report.findings)} unknown findings")
        return PhaseResult()

    def clients(self, state: RunState) -> PhaseResult:
        return client_scenarios(self.versions, self.endpoints, self.options.models, state.out)

    def faults(self, state: RunState) -> PhaseResult:
        state.out("\n— Faults —")
        return self.faults_place.result(state.out)


def suites_to_run(options: LocalOptions, reviewed: bool) -> list[Suite]:
    """``--suites`` when given; else the default ones, and MLflow itself (mlflow-direct) with ``--full``
    or when the server's contracts were generated on demand (``reviewed`` False)."""
    if options.suites is not None:
        return list(options.suites)
    direct = options.full or not reviewed
    return [suite for suite in SCHEMATHESIS_SUITES
            if suite in DEFAULT_LOCAL_SUITES or (direct and suite is Suite.MLFLOW_DIRECT)]


def _warm(suites: bool) -> None:
    """Ahead of need, in a thread: what fails here is told by the step that needs it, not as a traceback."""
    warm_imports()
    if suites:
        warm_suite_server()


def _tell(state: RunState, result: PhaseResult, label: str = "") -> None:
    for check in result.checks:
        state.out(f"{'✓' if not check.findings else '✗'} {label}{check.message}")

