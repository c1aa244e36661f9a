"""The phases of a local run, in order, over targets fixed when the stack came up.

Preflight, a replay, the registration scenario(s), the credential probes, the large artifact,
concurrency (``--full``), the Schemathesis suites, the hop journals, other MLflow clients, the
MLflow diff, the faults. What one phase learns that a later one decides by (a part down, the valid
key refused, how much of the MLflow journal was the scenario's) goes on the run state's
``RunFacts``; ``LocalPhases`` itself is frozen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from hokusai_contracts.checks.hop_journals import (
    ConsumerExpectations,
    client_entries,
    findings_so_far,
    judge_hop_journals,
    scenario_entries,
)
from hokusai_contracts.checks.probes.artifacts import run_large_artifact
from hokusai_contracts.checks.probes.concurrency import run_concurrency
from hokusai_contracts.checks.probes.credentials import refuses_valid_key, run_credential_probes
from hokusai_contracts.checks.probes.faults import KEY_REFUSED, MLFLOW_DOWN
from hokusai_contracts.checks.probes.multipart import run_multipart
from hokusai_contracts.checks.probes.preflight import run_preflight
from hokusai_contracts.checks.replay import run_replay
from hokusai_contracts.checks.replayed_forwards import outside_contract
from hokusai_contracts.checks.scenario import run_registration, scenario_checks
from hokusai_contracts.checks.suites.runner import DEFAULT_MAX_EXAMPLES, SuiteOptions, run_local_suites
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.overlay import requires_credentials
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.names import DEFAULT_LOCAL_SUITES, SCHEMATHESIS_SUITES, PhaseName, Suite
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, Phase, PhaseResult, RunState
from hokusai_contracts.run.fold import mark, settle
from hokusai_contracts.run.inputs import CONSUMERS, Inputs
from hokusai_contracts.run.local_options import LocalOptions
from hokusai_contracts.run.local_targets import LocalTargets
from hokusai_contracts.run.mlflow_versions import VersionPlan, client_scenarios, mlflow_diffs
from hokusai_contracts.run.pipeline import Step

__all__ = ["CONSUMER_FILE", "LocalPhases", "suites_to_run"]

#: The committed expectations a reference-proxy run compares its proxy->auth journal with.
CONSUMER_FILE = "mlflow-proxy.yaml"
#: Findings printed the moment the scenario's traffic shows them (the rest wait for the report).
_FIRST_SHOWN = 5


def _healthy(state: RunState) -> bool:
    return state.facts.healthy


def _key_refused(state: RunState) -> bool:
    return state.facts.key_refused


@dataclass(frozen=True)
class LocalPhases:
    options: LocalOptions
    inputs: Inputs
    versions: VersionPlan
    targets: LocalTargets
    #: REPLAY's client->proxy exchanges, when one was given.
    recording: list[HttpExchange] | None
    #: The thread importing MLflow and scikit-learn while the stack booted: the scenario waits for it.
    warm: threading.Thread
    #: When the run started (``time.perf_counter``): the first findings say how far in they came.
    started: float

    def steps(self) -> list[Phase]:
        options = self.options

        def artifact(state: RunState) -> bool:
            return bool(options.artifact_mb) and _healthy(state)

        return [
            Step(PhaseName.PREFLIGHT, self.preflight),
            # First, on a stack as fresh as the recorded one was to its client; before the suites, so
            # that what reaches MLflow is judged in full, as the scenario's traffic is.
            Step(PhaseName.REPLAY, self.replay, when=lambda state: self.recording is not None),
            Step(PhaseName.SCENARIO, self.scenarios),
            Step(PhaseName.SCENARIO, self.first_findings),
            Step(PhaseName.CREDENTIALS, self.credentials, when=_healthy),
            Step(PhaseName.SUITES, suites_skipped, when=lambda state: not _healthy(state)),
            Step(PhaseName.LARGE_ARTIFACT, consequence(PhaseName.LARGE_ARTIFACT),
                 when=lambda state: artifact(state) and _key_refused(state)),
            Step(PhaseName.LARGE_ARTIFACT, self.large_artifact,
                 when=lambda state: artifact(state) and not _key_refused(state)),
            # Before the suites: its mpu/create, complete and abort calls (a real client's, which the
            # fuzzers leave alone) are judged in full on every hop, as the scenario's are.
            Step(PhaseName.LARGE_ARTIFACT, self.multipart,
                 when=lambda state: artifact(state) and not _key_refused(state)),
            Step(PhaseName.CONCURRENCY, self.concurrency, when=lambda state: options.full and _healthy(state)),
            # Run even with a part down: the suites phase then only says so, and the journals hold
            # what the scenario sent.
            Step(PhaseName.SUITES, self.suites),
            Step(PhaseName.HOP_JOURNALS, self.hop_journals),
            Step(PhaseName.HOP_JOURNALS, tally),
            Step(PhaseName.CLIENTS, self.clients, when=lambda state: bool(self.versions.clients) and _healthy(state)),
            Step(PhaseName.MLFLOW_DIFF, lambda state: mlflow_diffs(self.versions, state.out)),
            Step(PhaseName.FAULTS, self.faults, when=self.faults_due),
        ]

    def preflight(self, state: RunState) -> PhaseResult:
        started = time.perf_counter()
        endpoints = self.targets.endpoints
        preflight = run_preflight(endpoints.proxy_url, endpoints.auth_url, endpoints.mlflow_url, endpoints.api_key,
                                  contracts=self.inputs)
        state.facts.parts_down = preflight.parts_down
        if not preflight.up("mlflow"):
            self.targets.faults.mlflow_blocked = MLFLOW_DOWN  # the first cause: the auth faults still run
        result = preflight.result()
        result.timings[PhaseName.PREFLIGHT] = round(time.perf_counter() - started, 3)
        return result

    def replay(self, state: RunState) -> PhaseResult:
        assert self.recording is not None
        targets = self.targets
        start = client_entries(targets.client_journal)
        result = run_replay(self.recording, targets.client.proxy_root, targets.endpoints.api_key, state.out)
        replayed = read_journal(targets.client_journal)[start:] if targets.client_journal.exists() else []
        state.facts.replayed_outside_contract = outside_contract(replayed, self.inputs.proxy, targets.mount)
        return result

    def scenarios(self, state: RunState) -> PhaseResult:
        state.facts.replayed_entries = client_entries(self.targets.client_journal)
        started = time.perf_counter()
        self.warm.join()
        result = PhaseResult(timings={"imports_wait": round(time.perf_counter() - started, 3)})
        client, options = self.targets.client, self.options
        # With S3 behind MLflow, the first scenario also logs a large model the way production moves one.
        large_mb = options.artifact_mb if options.artifact_store == "s3" else 0
        for index, kind in enumerate(options.models):
            started = time.perf_counter()
            state.out(f"\n— Registration scenario ({kind.value}) —")
            outcome = run_registration(client.proxy_url, client.api_key, model_kind=kind,
                                       health_url=client.proxy_url + "/health/mlflow", out=state.out, clean_up=True,
                                       large_model_mb=large_mb if index == 0 else 0)
            result.checks += scenario_checks(outcome)
            if large_mb and index == 0:
                result.metrics["scenario_multipart_parts"] = float(len(outcome.multipart_parts))
            result.timings[f"{PhaseName.SCENARIO}.{kind.value}"] = round(time.perf_counter() - started, 3)
        return result

    def first_findings(self, state: RunState) -> PhaseResult:
        """The scenario's traffic judged at once: a blocking defect is on screen seconds into the run.

        Printed only: the hop-journal phase judges every journal in full after the suites and
        reports each finding there, once.
        """
        inputs = self.inputs
        so_far = findings_so_far(self.targets.endpoints, inputs.auth, inputs.mlflow,
                                 replayed_outside_contract=state.facts.replayed_outside_contract)
        found = [f for f in inputs.deviations.apply(so_far, date.today()) if not f.known]
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
        result = run_credential_probes(self.targets.endpoints, self.inputs.proxy, self.options.plain_key_refusal)
        state.facts.key_refused = refuses_valid_key(result)
        if state.facts.key_refused:
            self.targets.faults.mlflow_blocked = KEY_REFUSED  # the MLflow faults are its consequences
        _tell(state, result, self.inputs.deviations)
        return result

    def large_artifact(self, state: RunState) -> PhaseResult:
        endpoints = self.targets.endpoints
        result = run_large_artifact(endpoints.proxy_url, endpoints.api_key, self.options.artifact_mb,
                                    self.targets.proxy_pid, contract=self.inputs.proxy)
        _tell(state, result, self.inputs.deviations, "Large artifact: ")
        return result

    def multipart(self, state: RunState) -> PhaseResult:
        client, endpoints = self.targets.client, self.targets.endpoints
        result = run_multipart(client.proxy_url, endpoints.api_key, endpoints.mlflow_url,
                               s3=self.options.artifact_store == "s3", contract=self.inputs.proxy)
        _tell(state, result, self.inputs.deviations, "Large artifact: ")
        return result

    def concurrency(self, state: RunState) -> PhaseResult:
        state.out("\n— Concurrency: 8 registrations at once —")
        result = run_concurrency(self.targets.endpoints, contract=self.inputs.proxy,
                                 mlflow_requires_key=requires_credentials(self.inputs.mlflow))
        _tell(state, result, self.inputs.deviations)
        return result

    def suites(self, state: RunState) -> PhaseResult:
        options, inputs, targets, facts = self.options, self.inputs, self.targets, state.facts
        chosen = suites_to_run(options, self.versions.contracts.reviewed) if facts.healthy else []
        # The proxy->MLflow journal so far holds a real client's valid requests (the scenario, the
        # probes); what the fuzzers send from here on is theirs.
        facts.scenario_entries = scenario_entries(targets.endpoints)
        facts.client_entries = client_entries(targets.client_journal)
        if self.faults_due(state):
            targets.faults.start_beside()
        result = run_local_suites(targets.client, targets.root / "suites",
                                  SuiteOptions(chosen, options.max_examples or DEFAULT_MAX_EXAMPLES,
                                               self.versions.contract_files(), requires_credentials(inputs.mlflow)),
                                  inputs.directory, inputs.root, state.out)
        facts.suite_tests = len(result.checks)
        return result

    def hop_journals(self, state: RunState) -> PhaseResult:
        options, inputs, targets = self.options, self.inputs, self.targets
        reference = options.proxy_cmd is None and options.proxy_image is None
        committed = inputs.consumers_dir / CONSUMER_FILE
        consumers = ConsumerExpectations(committed, f"{inputs.directory.name}/{CONSUMERS}/{CONSUMER_FILE}",
                                         update=options.update_consumers) if reference else None
        return judge_hop_journals(targets.endpoints, inputs.auth, inputs.mlflow,
                                  scenario_count=state.facts.scenario_entries, consumers=consumers, out=state.out,
                                  client_journal=targets.client_journal, mount=targets.mount, proxy=inputs.proxy,
                                  client_answers=(state.facts.replayed_entries, state.facts.client_entries),
                                  replayed_outside_contract=state.facts.replayed_outside_contract)

    def clients(self, state: RunState) -> PhaseResult:
        return client_scenarios(self.versions, self.targets.endpoints, self.options.models, state.out)

    def faults_due(self, state: RunState) -> bool:
        """The auth faults run whenever the auth service and the proxy are up; MLflow's follow the first cause."""
        return self.options.faults and state.facts.up("auth") and state.facts.up("proxy")

    def faults(self, state: RunState) -> PhaseResult:
        state.out("\n— Faults —")
        return self.targets.faults.result(state.out)


def suites_to_run(options: LocalOptions, reviewed: bool) -> list[Suite]:
    """``--suites`` when given; else the default ones, and MLflow itself (mlflow-direct) with ``--full``
    or when the server's contracts were generated on demand (``reviewed`` False)."""
    if options.suites is not None:
        return list(options.suites)
    direct = options.full or not reviewed
    return [suite for suite in SCHEMATHESIS_SUITES
            if suite in DEFAULT_LOCAL_SUITES or (direct and suite is Suite.MLFLOW_DIRECT)]


def consequence(phase: PhaseName) -> Callable[[RunState], PhaseResult]:
    """A phase skipped because the proxy refuses the valid key: its findings would be that refusal again."""
    def skipped(state: RunState) -> PhaseResult:
        message = "skipped: a consequence of the proxy refusing the valid platform key (see bearer-auth)"
        state.out(f"\n{phase}: {message}")
        return PhaseResult(checks=[Check(suite=Suite.FAULTS if phase is PhaseName.FAULTS else Suite.LARGE_ARTIFACT,
                                         name=str(phase), status=CheckStatus.SKIPPED, message=message)])
    return skipped


def suites_skipped(state: RunState) -> PhaseResult:
    # Fuzzing a stack with a part down would only time out thousands of times.
    state.out("\nPreflight found a part down or too slow: the contract suites (and the faults that need it) "
              "are skipped.")
    message = "preflight: " + "; ".join(f"[{f.hop}] {f.kind.value}: {f.observed}" for f in state.facts.parts_down)
    return PhaseResult(checks=[Check(suite=Suite.SUITES, name="skipped", status=CheckStatus.SKIPPED,
                                     message=message)])


def tally(state: RunState) -> PhaseResult:
    """What the suites and the journals found, as folded (before the faults break things on purpose)."""
    report = state.report
    failed = sum(c.status is CheckStatus.FAILED for c in report.checks)
    state.out(f"{state.facts.suite_tests} suite tests and the hop journals judged; {failed} checks failed, "
              f"{sum(not f.known for f in report.findings)} unknown findings")
    return PhaseResult()


def _tell(state: RunState, result: PhaseResult, deviations: KnownDeviations, label: str = "") -> None:
    """Each check's line as the fold will settle it: a failed check is ✗ with or without findings, a
    skipped one ``-``, one whose findings are all known deviations no ✗."""
    for check in result.checks:
        record = settle(check, deviations.apply(check.findings, date.today()), [])
        state.out(f"{mark(record.status)} {label}{check.message}")
