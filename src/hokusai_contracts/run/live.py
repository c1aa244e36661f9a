"""``make contract-live``: safe checks against the real endpoints, ending in a diagnosis.

Order: verify-proxy (is everything up?), auth-service (what does the auth
service say of the key?), bearer-auth (does the proxy take it?),
investigate (which routes answer?), the registration scenario and the
read-only contract suites (only when the parts are up and the key gets in:
otherwise they would only repeat the first failure a thousand times),
performance, and always cleanup. Every request passes one gate (safety
policy, rate limit, budget); the report shows the real URLs, never the
loopback pass-through's.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from hokusai_contracts import __version__
from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.live.auth_checks import run_auth_checks
from hokusai_contracts.checks.live.bearer_checks import KEY_ACCEPTED, run_bearer_checks
from hokusai_contracts.checks.live.cleanup import clean_up
from hokusai_contracts.checks.live.investigate import run_investigation
from hokusai_contracts.checks.live.performance import Performance, compare_with_baseline, measure, write_performance
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.checks.probes.preflight import run_preflight
from hokusai_contracts.checks.scenario import ModelKind, run_registration, warm_imports
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.redact import mask, redact
from hokusai_contracts.report.diagnosis import diagnose
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report, Targets
from hokusai_contracts.report.writers import write_reports
from hokusai_contracts.run.mlflow_versions import detect_mlflow_version, live_contracts
from hokusai_contracts.safety.egress import GUARD_STATUS, Egress, running_egress
from hokusai_contracts.safety.gate import BudgetExhausted, Gate, Refused
from hokusai_contracts.safety.policy import SafetyPolicy, Target
from hokusai_contracts.safety.transport import gated_client
from hokusai_contracts.settings import LiveSettings

__all__ = ["LIVE_SUITES", "LiveOptions", "run_live"]

#: The read-only Schemathesis suites a live run may use (the stateful one creates resources).
LIVE_SUITES = ("auth-service", "mlflow-direct", "proxy")
#: Requests kept back from the budget so that cleanup can always run.
CLEANUP_RESERVE = 20


@dataclass
class LiveOptions:
    report_dir: Path = Path("reports")
    keep: bool = False
    # The live server's version's contracts, relative to the contracts folder (run_live sets them).
    mlflow_contract: str = "mlflow.yaml"
    proxy_contract: str = "mlflow-proxy.yaml"
    suites: list[str] = field(default_factory=lambda: list(LIVE_SUITES))
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])


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
    check_hosts_resolve(settings)
    key = settings.key
    root = files.contracts_root()
    contracts_dir = files.contracts_dir()
    auth_contract = Contract.load(contracts_dir / "auth-service.yaml", root=root)
    mlflow_contract = Contract.load(contracts_dir / "mlflow.yaml", root=root)
    proxy_contract = Contract.load(contracts_dir / "mlflow-proxy.yaml", root=root)
    deviations = KnownDeviations.load(contracts_dir / "known-deviations.yaml", root=root)
    report = Report(tool_version=__version__, mode="live", targets=Targets(
        proxy_url=settings.proxy_url, auth_url=settings.auth_url, mlflow_url=settings.mlflow_url or None, proxy="live"))
    report.warnings += [f"expired known deviation: {w}" for w in deviations.expired(date.today())]
    logs = options.report_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    traffic = logs / "live-traffic.jsonl"
    traffic.write_text("")

    bases = {Target.PROXY: settings.proxy_url, Target.AUTH: settings.auth_url,
             Target.ORIGIN: "{0.scheme}://{0.netloc}".format(urlsplit(settings.proxy_url))}
    if settings.mlflow_url:
        bases[Target.MLFLOW] = settings.mlflow_url
    policy = SafetyPolicy(key, auth_contract, mlflow_contract)
    gate = Gate(policy, bases, settings.rate_limit, settings.request_budget - CLEANUP_RESERVE, log_path=traffic)
    direct = settings.mlflow_url or "(skipped)"
    out(f"Live run: proxy {settings.proxy_url}, auth {settings.auth_url}, MLflow {direct}")
    out(f"  key {mask(key)}, at most {settings.rate_limit:g} requests/s and {settings.request_budget} requests"
        + (f", CA bundle {settings.ca_bundle}" if settings.ca_bundle else ""))
    warm = threading.Thread(target=warm_imports, name="warm-imports", daemon=True)
    warm.start()
    started = time.perf_counter()
    perf = Performance()
    with gated_client(gate, settings.verify, settings.timeout_s) as client, \
            running_egress(gate, settings.verify, settings.timeout_s) as egress:
        say = _rewriter(egress, [key])
        # The server's MLflow version chooses the contracts, before any check relies on them.
        versioned = live_contracts(detect_mlflow_version(client, settings.mlflow_url, settings.proxy_url, key), report)
        deviations = deviations.for_mlflow(report.targets.mlflow_version)
        if versioned is not None:
            mlflow_contract = Contract.load(versioned.mlflow, root=root)
            proxy_contract = Contract.load(versioned.proxy, root=root)
            gate.policy = policy = SafetyPolicy(key, auth_contract, mlflow_contract)
            options = replace(options, mlflow_contract=versioned.mlflow.relative_to(contracts_dir).as_posix(),
                              proxy_contract=versioned.proxy.relative_to(contracts_dir).as_posix())

        def tell(line: str) -> None:
            out(say(line))

        probes = LiveProbes(client=client, report=report, proxy_url=settings.proxy_url, auth_url=settings.auth_url,
                            mlflow_url=settings.mlflow_url, api_key=key, auth_contract=auth_contract,
                            proxy_contract=proxy_contract, mlflow_contract=mlflow_contract, deviations=deviations,
                            timeout_s=settings.timeout_s, out=tell)
        try:
            _phases(report, probes, egress, settings, options, perf, warm, tell)
        except BudgetExhausted as exc:
            report.warnings.append(f"{exc}: the remaining checks were skipped; raise HOKUSAI_REQUEST_BUDGET "
                                   "to run them")
            tell(f"\n! {exc}: the remaining checks are skipped.")
        finally:
            gate.budget += CLEANUP_RESERVE
            _clean_up(report, probes, policy, options.keep, tell)
    report.timings["total"] = round(time.perf_counter() - started, 3)
    _record_gate(report, gate)
    report = Report.model_validate_json(say(report.model_dump_json()))
    report.finished_at = datetime.now(UTC)
    report.summarise_suites()
    report.diagnosis = diagnose(report)
    write_performance(perf, options.report_dir)
    write_reports(report, options.report_dir)
    return report


def _phases(report: Report, probes: LiveProbes, egress: Egress, settings: LiveSettings, options: LiveOptions,
            perf: Performance, warm: threading.Thread, tell: Callable[[str], None]) -> None:
    def timed(name: str, action: Callable[[], object]) -> object:
        began = time.perf_counter()
        tell(f"\n— {name} —")
        try:
            return action()
        except Refused as exc:
            if isinstance(exc, BudgetExhausted):
                raise
            report.checks.append(CheckRecord(suite=name, name="refused by the live safety policy",
                                             status=CheckStatus.ERROR, message=str(exc)))
            return None
        finally:
            report.timings[name] = round(time.perf_counter() - began, 3)

    def verify_proxy() -> bool:
        preflight = run_preflight(settings.proxy_url, settings.auth_url, settings.mlflow_url or None,
                                  probes.api_key, timeout=min(settings.timeout_s, 15.0), client=probes.client)
        report.checks += preflight.checks
        for check in preflight.checks:
            tell(f"{'✓' if check.status is CheckStatus.PASSED else '✗'} [verify-proxy] {check.name}: {check.message}")
        for finding in preflight.findings:
            report.add_finding(finding)
        return preflight.healthy

    healthy = timed("verify-proxy", verify_proxy) is True
    timed("auth-service", lambda: run_auth_checks(probes))
    timed("bearer-auth", lambda: run_bearer_checks(probes))
    timed("investigate", lambda: run_investigation(probes))

    if not (healthy and probes.facts.get(KEY_ACCEPTED) is True):
        why = "a part is down or too slow (verify-proxy)" if not healthy else "the proxy does not let the key in"
        tell(f"\nSkipping the registration scenario and the contract suites: {why}.")
        for suite in ("scenario", "suites"):
            report.checks.append(CheckRecord(suite=suite, name="skipped", status=CheckStatus.SKIPPED,
                                             message=f"not run: {why}"))
    else:
        timed("scenario", lambda: _scenario(report, egress, probes.api_key, options, perf, warm, tell))
        timed("suites", lambda: _suites(report, egress, settings, options, probes.deviations, tell))
    if healthy:
        timed("performance", lambda: _performance(report, probes, settings, perf, options))


def _scenario(report: Report, egress: Egress, key: str, options: LiveOptions, perf: Performance,
              warm: threading.Thread, tell: Callable[[str], None]) -> None:
    from hokusai_contracts.run.local import scenario_checks

    warm.join()
    tracking_uri = egress.base(Target.PROXY)
    for kind in options.models:
        waited_before, began = egress.gate.waited_s, time.perf_counter()
        result = run_registration(tracking_uri, key, model_kind=kind, health_url=tracking_uri + "/health/mlflow",
                                  out=tell)
        report.checks += scenario_checks(result)
        if result.ok:
            # The scenario's own time, without the pauses the rate limit imposed on it.
            seconds = time.perf_counter() - began - (egress.gate.waited_s - waited_before)
            perf.registration.samples_ms.append(round(seconds * 1000, 1))


def _suites(report: Report, egress: Egress, settings: LiveSettings, options: LiveOptions,
            deviations: KnownDeviations, tell: Callable[[str], None]) -> None:
    from hokusai_contracts.checks.suites.context import SuiteContext
    from hokusai_contracts.checks.suites.runner import add_coverage, fold_records, run_pytest_suites

    root = files.contracts_root()
    suites = [s for s in options.suites if s != "mlflow-direct" or settings.mlflow_url]
    with tempfile.TemporaryDirectory(prefix="hokusai-live-") as workdir:
        # The context file holds the key: it lives in a private temporary directory, gone after the suites.
        context = SuiteContext(
            mode="live", proxy_url=egress.base(Target.PROXY), auth_url=egress.base(Target.AUTH),
            mlflow_url=egress.base(Target.MLFLOW) if settings.mlflow_url else None, api_key=settings.key,
            contracts_dir=files.contracts_dir(), results_file=Path(workdir) / "results.jsonl",
            max_examples=settings.live_max_examples, live_safe_only=True, suites=suites,
            request_timeout_s=settings.timeout_s, mlflow_contract=options.mlflow_contract,
            proxy_contract=options.proxy_contract,
        )
        records, walls = run_pytest_suites(context, Path(workdir), tell) if suites else ([], {})
    report.timings.update({f"suites.{name}": seconds for name, seconds in walls.items()})
    coverage = fold_records(report, records, deviations, drop=_from_gate)
    add_coverage(report, coverage, files.contracts_dir(), root, ("auth-service.yaml", options.proxy_contract))


def _performance(report: Report, probes: LiveProbes, settings: LiveSettings, perf: Performance,
                 options: LiveOptions) -> None:
    measure(probes, settings.perf_samples, perf)
    report.metrics.update(perf.metrics())
    overhead = perf.proxy_overhead_ms()
    lines = [f"auth validate p50 {perf.auth_validate.p50} ms, p95 {perf.auth_validate.p95} ms",
             f"read through the proxy p50 {perf.proxy_read.p50} ms, p95 {perf.proxy_read.p95} ms"]
    if overhead is not None:
        lines.append(f"direct p50 {perf.direct_read.p50} ms: proxy overhead {overhead} ms")
    if perf.registration.samples_ms:
        lines.append(f"registration p50 {perf.registration.p50} ms")
    for line in lines:
        probes.out(f"  {line}")
    check = compare_with_baseline(perf, settings.perf_baseline, settings.perf_tolerance)
    report.checks.append(check)
    probes.out(f"  baseline: {check.message}")


def _clean_up(report: Report, probes: LiveProbes, policy: SafetyPolicy, keep: bool,
              tell: Callable[[str], None]) -> None:
    created = policy.created
    made = [f"registered model {n}" for n in sorted(created.registered_model)] + \
           [f"experiment {e}" for e in sorted(created.experiment)]
    if not made:
        return
    tell("\n— cleanup —")
    if keep:
        tell("Kept (KEEP=1): " + ", ".join(made))
        report.checks.append(CheckRecord(suite="cleanup", name="kept", status=CheckStatus.SKIPPED,
                                         message="kept on request: " + ", ".join(made)))
        return
    try:
        outcome = clean_up(probes, created)
    except (Refused, OSError) as exc:
        report.checks.append(CheckRecord(suite="cleanup", name="delete what the run created",
                                         status=CheckStatus.ERROR, message=f"{exc}; left behind: {', '.join(made)}"))
        tell(f"✗ cleanup stopped: {exc}; left behind: {', '.join(made)}")
        return
    failed = bool(outcome.failed)
    message = f"deleted {', '.join(outcome.deleted) or 'nothing'}" + \
              (f"; could not delete {'; '.join(outcome.failed)}" if failed else "")
    report.checks.append(CheckRecord(suite="cleanup", name="delete what the run created",
                                     status=CheckStatus.FAILED if failed else CheckStatus.PASSED, message=message))
    tell(f"{'✗' if failed else '✓'} {message}")


def _record_gate(report: Report, gate: Gate) -> None:
    report.metrics["live.requests_sent"] = float(gate.sent)
    report.metrics["live.rate_limit_wait_s"] = round(gate.waited_s, 3)
    unsafe = [r for r in gate.refusals if not r.budget]
    if unsafe:
        report.checks.append(CheckRecord(
            suite="live-safety", name="requests refused by the safety policy", status=CheckStatus.FAILED,
            cases=len(unsafe), message="; ".join(sorted({r.reason for r in unsafe}))[:2000]))
    spent = [r for r in gate.refusals if r.budget]
    if spent:
        report.warnings.append(f"{len(spent)} requests were not sent: the request budget was spent")
