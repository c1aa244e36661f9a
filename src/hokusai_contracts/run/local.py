"""``make contract-local``: the local stack, the registration scenario, the suites, the report."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from hokusai_contracts import __version__
from hokusai_contracts.checks.probes.artifacts import run_large_artifact
from hokusai_contracts.checks.probes.concurrency import run_concurrency
from hokusai_contracts.checks.probes.faults import run_faults
from hokusai_contracts.checks.probes.preflight import run_preflight
from hokusai_contracts.checks.scenario import ModelKind, ScenarioResult, run_registration, warm_imports
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.report.diagnosis import diagnose
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report, Targets
from hokusai_contracts.report.writers import write_reports
from hokusai_contracts.run.mlflow_versions import add_mlflow_diffs, note_versions, prepare_versions, run_clients
from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, Stack, StackEndpoints, describe, running_stack

__all__ = ["ALL_SUITES", "LocalOptions", "run_local"]

ALL_SUITES = ("auth-service", "mlflow-direct", "proxy", "stateful")


@dataclass
class LocalOptions:
    report_dir: Path = Path("reports")
    proxy_cmd: str | None = None
    auth_profile: str = "production"
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])
    # Schemathesis suites to run (names of suites.runner.SUITE_MODULES); the hop journals are
    # judged whatever this holds, since they are what the scenario's traffic is checked by.
    suites: list[str] = field(default_factory=lambda: list(ALL_SUITES))
    full: bool = False
    max_examples: int | None = None
    faults: bool = True
    mlflow_fault: str = "none"
    fault_delay_s: float = 6.0
    artifact_mb: int = 50
    stack: str = "process"  # or "docker"
    # Write REPORT_DIR/consumers/mlflow-proxy.yaml from the journal (reference proxy runs only).
    refresh_consumers: bool = True
    proxy_image: str | None = None
    # MLFLOW_VERSION and MLFLOW_CLIENTS (run/mlflow_versions.py); None and [] keep the pinned MLflow alone.
    mlflow_version: str | None = None
    mlflow_clients: list[str] = field(default_factory=list)
    # The server version's contracts, relative to the contracts folder (set by prepare_versions).
    mlflow_contract: str = "mlflow.yaml"
    proxy_contract: str = "mlflow-proxy.yaml"


def scenario_checks(result: ScenarioResult, suite: str = "scenario") -> list[CheckRecord]:
    checks = []
    for step in result.steps:
        checks.append(CheckRecord(
            suite=suite, name=f"{result.model_kind.value}:{step.name}",
            status=CheckStatus.PASSED if step.ok else CheckStatus.FAILED,
            seconds=round(step.seconds, 3), message=step.detail,
        ))
    return checks


def run_local(options: LocalOptions, out: Callable[[str], None] = print) -> Report:
    report = Report(tool_version=__version__, mode="local",
                    targets=Targets(proxy=options.proxy_cmd or "reference"))
    # Before anything starts: a bad MLFLOW_VERSION or MLFLOW_CLIENTS is exit 2 with nothing to undo.
    versions = prepare_versions(options.mlflow_version, options.mlflow_clients, out)
    options = replace(options, mlflow_version=versions.server, mlflow_contract=versions.mlflow_contract,
                      proxy_contract=versions.proxy_contract)
    # `import mlflow, sklearn` costs seconds; doing it while the MLflow server boots takes it off
    # the critical path.
    warm = threading.Thread(target=warm_imports, name="warm-imports", daemon=True)
    warm.start()
    definition = StackDefinition(auth_profile=options.auth_profile,  # type: ignore[arg-type]
                                 mlflow_fault=options.mlflow_fault, fault_delay_s=options.fault_delay_s,
                                 mlflow_version=versions.server)
    logs = options.report_dir / "logs"
    context: AbstractContextManager[Stack]
    if options.stack == "docker":
        from hokusai_contracts.stack.docker_stack import running_docker_stack

        context = running_docker_stack(definition, options.proxy_image, keep_logs_in=logs)
    else:
        context = running_stack(definition, options.proxy_cmd, keep_logs_in=logs)
    with context as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        report.timings.update({k: round(v, 3) for k, v in stack.timings.items()})
        report.targets = Targets(proxy_url=endpoints.proxy_url, auth_url=endpoints.auth_url,
                                 mlflow_url=endpoints.mlflow_url, proxy=options.proxy_cmd or "reference")
        note_versions(report, versions)
        out("Local stack is up:")
        out(describe(endpoints))
        started = time.perf_counter()
        preflight = run_preflight(endpoints.proxy_url, endpoints.auth_url, endpoints.mlflow_url, endpoints.api_key)
        report.checks += preflight.checks
        for finding in preflight.findings:
            report.add_finding(finding)
        report.timings["preflight"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        warm.join()
        report.timings["imports_wait"] = round(time.perf_counter() - started, 3)
        _run_scenarios(report, endpoints, options, out)
        from hokusai_contracts.checks.suites.runner import run_suites

        if not preflight.healthy:
            # Fuzzing a stack with a part down would only time out thousands of times.
            out("\nPreflight found a part down or too slow: the contract suites and faults are skipped.")
            report.checks.append(CheckRecord(
                suite="suites", name="skipped", status=CheckStatus.SKIPPED,
                message="preflight: " + "; ".join(
                    f"[{f.hop}] {f.kind.value}: {f.observed}" for f in preflight.findings),
            ))
            options = replace(options, suites=[], faults=False)
        if options.artifact_mb and preflight.healthy:
            proxy = getattr(stack, "parts", {}).get(Part.PROXY)
            pid = proxy.process.pid if isinstance(stack, ProcessStack) and proxy else None
            _record_probe(report, "large_artifact", *run_large_artifact(
                endpoints.proxy_url, endpoints.api_key, options.artifact_mb, pid), out, "Large artifact: ")
        if options.full and preflight.healthy:
            out("\n— Concurrency: 8 registrations at once —")
            _record_probe(report, "concurrency", *run_concurrency(endpoints), out)
        run_suites(report, endpoints, stack, options, out)
        if versions.clients and preflight.healthy:
            run_clients(report, endpoints, versions, options.models, out)
        if options.faults:
            out("\n— Faults —")
            started = time.perf_counter()
            checks, findings = run_faults(stack, endpoints, options.fault_delay_s, out)
            report.checks += checks
            for finding in findings:
                report.add_finding(finding)
            report.timings["faults"] = round(time.perf_counter() - started, 3)
    report.timings.update({k: round(v, 3) for k, v in stack.timings.items() if k == "stop"})
    add_mlflow_diffs(report, versions, options.report_dir, out)
    report.finished_at = datetime.now(UTC)
    report.summarise_suites()
    report.diagnosis = diagnose(report)
    write_reports(report, options.report_dir)
    return report


def _record_probe(report: Report, phase: str, check: CheckRecord, broken: Finding | None,
                  metrics: dict[str, float], out: Callable[[str], None], label: str = "") -> None:
    out(f"{'✓' if broken is None else '✗'} {label}{check.message}")
    report.checks.append(check)
    report.metrics.update(metrics)
    report.timings[phase] = check.seconds
    if broken:
        check.finding_ids = [report.add_finding(broken)]


def _run_scenarios(report: Report, endpoints: StackEndpoints, options: LocalOptions,
                   out: Callable[[str], None]) -> None:
    health = endpoints.proxy_url + "/health/mlflow"
    for kind in options.models:
        started = time.perf_counter()
        out(f"\n— Registration scenario ({kind.value}) —")
        result = run_registration(endpoints.proxy_url, endpoints.api_key, model_kind=kind, health_url=health, out=out)
        report.checks += scenario_checks(result)
        report.timings[f"scenario.{kind.value}"] = round(time.perf_counter() - started, 3)
