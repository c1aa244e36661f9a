"""``make contract-local``: the local stack, the registration scenario, the suites, the report.

Targets: a local stack (processes, or docker with ``--stack docker``) of the fake auth service,
MLflow and the proxy under test, with hop journals in front of auth and MLflow. No safety policy:
everything is ours. Phases, in order: preflight, the registration scenario(s), the credential
probes, the large artifact, concurrency (``--full``), the Schemathesis suites, the hop journals,
the faults. A part found down by preflight skips the phases that would only time out against it;
a valid key the proxy refuses makes the large artifact and the MLflow faults consequences, skipped;
the auth faults run whenever the auth service and the proxy are up (an outage has its documented
answer whatever the key, and whatever MLflow does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from hokusai_contracts import __version__
from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.replay import load_replay
from hokusai_contracts.checks.scenario import warm_imports
from hokusai_contracts.checks.suites.server import warm_suite_server
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import mlflow_side
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.report.model import Report, Targets
from hokusai_contracts.report.phase import PhaseResult
from hokusai_contracts.run.faults import FaultsPlace, ProxySettings
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import Inputs, load_inputs, report_dir_ready
from hokusai_contracts.run.local_options import LocalOptions
from hokusai_contracts.run.local_phases import LocalPhases, suites_to_run
from hokusai_contracts.run.local_stack import faults_proxy_env, mlflow_side_targets, stack_definition
from hokusai_contracts.run.local_targets import local_targets
from hokusai_contracts.run.mlflow_versions import VersionPlan, prepare_versions
from hokusai_contracts.run.pipeline import run_phases
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import StackDefinition, mlflow_api_prefix
from hokusai_contracts.stack.processes import Stack, describe, running_stack
from hokusai_contracts.stack.seed import check_seed

__all__ = ["LocalOptions", "run_local", "suites_to_run"]


def run_local(options: LocalOptions, out: Callable[[str], None] = print) -> Report:
    with report_dir_ready(options.report_dir):
        inputs = load_inputs()
        # Before anything starts or is built: a bad MLFLOW_OVERLAY or SEED is exit 2 with nothing to undo.
        mlflow_side(inputs.mlflow, options.mlflow_prefix, options.mlflow_overlay, inputs.root)
        if options.seed is not None:
            check_seed(options.seed)
        _declared_timeouts(options)  # as the faults read them once the stack is up: a bad one is refused now
        # Before anything starts: a bad MLFLOW_VERSION or MLFLOW_CLIENTS is exit 2 with nothing to undo.
        versions = prepare_versions(options.mlflow_version, options.mlflow_clients, out, options.contracts_for)
        mlflow = mlflow_side(Contract.load(versions.contracts.mlflow, root=inputs.root),
                             mlflow_api_prefix(options.mlflow_prefix, versions.server), options.mlflow_overlay,
                             inputs.root)
        inputs = replace(inputs, mlflow=mlflow,
                         proxy=Contract.load(versions.contracts.proxy, root=inputs.root),
                         deviations=inputs.deviations.for_mlflow(versions.server).for_stores(
                             options.backend_store, options.artifact_store))
        # A recording that cannot be replayed is exit 2 before the stack starts.
        replay = load_replay(options.replay, inputs.auth, inputs.mlflow, inputs.proxy) if options.replay else None
        return _run(options, inputs, versions, replay, out)


def _run(options: LocalOptions, inputs: Inputs, versions: VersionPlan, replay: list[HttpExchange] | None,
         out: Callable[[str], None]) -> Report:
    started = time.perf_counter()
    report = Report(tool_version=__version__, mode="local", targets=Targets(proxy=options.proxy_cmd or "reference"))
    fold = Fold(report, inputs.deviations, coverage_of=(inputs.auth, inputs.proxy))
    # `import mlflow, sklearn` costs seconds; doing it while the MLflow server boots takes it off
    # the critical path. So does starting the suites' fork server (its imports) after it, while
    # MLflow still boots on one core.
    suites = bool(suites_to_run(options, versions.contracts.reviewed))
    warm = threading.Thread(target=_warm, args=(suites,), name="warm-imports", daemon=True)
    warm.start()
    definition = stack_definition(options, versions.server)
    with _stack(options, definition) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        targets = Targets(proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url,
                          mlflow_url=endpoints.mlflow_url, proxy=options.proxy_cmd or "reference",
                          backend_store=stack.stores[0], artifact_store=stack.stores[1])
        targets = mlflow_side_targets(targets, options, definition, inputs.mlflow)
        fold.add(PhaseResult(timings={k: round(v, 3) for k, v in stack.timings.items()},
                             targets=versions.targets(targets), warnings=versions.warnings()))
        faults = _faults(options, inputs, stack, definition)
        out("Local stack is up:")
        out(describe(endpoints))
        with local_targets(stack, definition, faults) as fixed:
            phases = LocalPhases(options, inputs, versions, fixed, replay, warm, started)
            state = run_phases(phases.steps(), fold, out)
        fixed.write_traffic(options.report_dir, state.facts.scenario_entries)
    fold.add(PhaseResult(timings={k: round(v, 3) for k, v in stack.timings.items() if k == "stop"}))
    report = fold.finish()
    fold.write(options.report_dir)
    return report


def _stack(options: LocalOptions, definition: StackDefinition) -> AbstractContextManager[Stack]:
    logs = options.report_dir / "logs"
    if options.stack == "docker":
        from hokusai_contracts.stack.docker_stack import running_docker_stack

        # The stores as the compose file's profiles (postgres, s3: moto's server as in the process stack).
        profiles = [name for name, on in (("postgres", options.backend_store == "postgresql"),
                                          ("s3", options.artifact_store == "s3")) if on]
        return running_docker_stack(definition, options.proxy_image, keep_logs_in=logs, profiles=profiles)
    return running_stack(definition, options.proxy_cmd, keep_logs_in=logs)


def _faults(options: LocalOptions, inputs: Inputs, stack: Stack, definition: StackDefinition) -> FaultsPlace:
    """Where the faults run; their own stack starts now, while the scenario runs, when there are faults."""
    assert stack.endpoints is not None
    declared = _declared_timeouts(options)
    own_env = faults_proxy_env(options, definition)
    place = FaultsPlace(stack, stack.endpoints, definition, options.proxy_cmd, options.fault_delay_s,
                        declared or UpstreamTimeouts.from_env(definition.proxy_env),
                        options.report_dir / "logs" / "faults", contract=inputs.proxy, wait_s=options.fault_wait_s,
                        own=ProxySettings(own_env, declared or UpstreamTimeouts.from_env(own_env)))
    if options.faults:
        place.prepare()
    return place


def _declared_timeouts(options: LocalOptions) -> UpstreamTimeouts | None:
    """HOKUSAI_PROXY_TIMEOUTS, the proxy's own upstream timeouts (None: not declared); a bad one is a UsageError.

    The command's settings check it already; a caller filling ``LocalOptions`` itself gets the same line.
    """
    if not options.proxy_timeouts:
        return None
    try:
        return UpstreamTimeouts.parse(options.proxy_timeouts)
    except ValueError as exc:
        raise UsageError(f"HOKUSAI_PROXY_TIMEOUTS: {exc}") from None


def _warm(suites: bool) -> None:
    """Ahead of need, in a thread: what fails here is told by the step that needs it, not as a traceback."""
    warm_imports()
    if suites:
        warm_suite_server()
