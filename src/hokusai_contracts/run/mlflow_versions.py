"""What ``MLFLOW_VERSION`` and ``MLFLOW_CLIENTS`` add to a local run.

``prepare_versions`` runs before the stack starts, so bad input is exit 2 with nothing to undo:
it checks the versions, builds (or finds) each version's environment and finds the server
version's contracts, which the suites and the proxy->mlflow journal are judged by.

``run_clients`` runs the registration scenario once per client version, each with its own MLflow
client in its own environment, through the proxy under test, after the suites have judged the
journals: it judges each client's own slice of the proxy->mlflow journal against the *server*
version's contract, so a client calling an operation that server does not have is an
``unknown_operation`` finding that names the client version. Its checks are named
``mlflow-<client version>:<model>:<step>``.

``add_mlflow_diffs`` lists, for every client older than the server, what changed in the REST API
between the two (``mlflow-diff``), in the report's warnings and ``REPORT_DIR/mlflow-diff-OLD-NEW.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
from packaging.version import Version

from hokusai_contracts.checks.client_versions import client_checks, run_client_scenario
from hokusai_contracts.checks.scenario import ModelKind
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.journal.recording import read_journal
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report
from hokusai_contracts.stack.health import StackEndpoints
from hokusai_contracts.stack.mlflow_contracts import MlflowContracts, committed_versions, mlflow_contracts
from hokusai_contracts.stack.mlflow_env import (
    MlflowEnvironment,
    check_version,
    mlflow_environment,
    parse_versions,
    pinned_version,
)

__all__ = ["VersionPlan", "add_mlflow_diffs", "detect_mlflow_version", "live_contracts", "note_versions",
           "prepare_versions", "run_clients"]

Out = Callable[[str], None]


@dataclass
class VersionPlan:
    server: str
    contracts: MlflowContracts
    clients: list[MlflowEnvironment] = field(default_factory=list)

    @property
    def mlflow_contract(self) -> str:
        return _relative(self.contracts.mlflow)

    @property
    def proxy_contract(self) -> str:
        return _relative(self.contracts.proxy)


def prepare_versions(mlflow_version: str | None, mlflow_clients: str | list[str] | None, out: Out) -> VersionPlan:
    """Every environment and contract the run needs, before the stack starts (``UsageError`` if any is bad)."""
    server = mlflow_environment(mlflow_version, "MLFLOW_VERSION", out)
    contracts = mlflow_contracts(server.version, "MLFLOW_VERSION", out)
    if isinstance(mlflow_clients, str):
        mlflow_clients = parse_versions(mlflow_clients, "MLFLOW_CLIENTS")
    clients = [mlflow_environment(check_version(v, "MLFLOW_CLIENTS"), "MLFLOW_CLIENTS", out)
               for v in (mlflow_clients or [])]
    return VersionPlan(server.version, contracts, clients)


def note_versions(report: Report, plan: VersionPlan) -> None:
    report.targets.mlflow_version = plan.server
    report.targets.client_versions = [client.version for client in plan.clients]
    if not plan.contracts.reviewed:
        report.warnings.append(f"the contracts of MLflow {plan.server} were generated on demand from its protos "
                               f"({plan.contracts.mlflow}); their deviations have not been reviewed, so a finding "
                               "may be MLflow's own")


def run_clients(report: Report, endpoints: StackEndpoints, plan: VersionPlan, models: list[ModelKind],
                out: Out) -> None:
    """The scenario per client version and model; each client's journal slice judged by the server's contract."""
    root = files.contracts_root()
    contract = Contract.load(plan.contracts.mlflow, root=root)
    deviations = KnownDeviations.load(files.contracts_dir() / "known-deviations.yaml", root=root).for_mlflow(
        plan.server)
    journal = endpoints.mlflow_journal
    for client in plan.clients:
        for kind in models:
            out(f"\n— Registration scenario with the MLflow {client.version} client ({kind.value}) —")
            before = len(read_journal(journal)) if journal is not None and journal.exists() else 0
            run = run_client_scenario(client, endpoints.proxy_url, endpoints.api_key, model_kind=kind,
                                      health_url=endpoints.proxy_url + "/health/mlflow", out=out)
            report.checks += client_checks(run)
            report.timings[f"scenario.mlflow-{client.version}.{kind.value}"] = round(run.seconds, 3)
            if journal is None:
                continue
            entries = read_journal(journal)[before:]
            judged = judge_journal(entries, contract, Hop.PROXY_TO_MLFLOW, forbid_credentials=True,
                                   suite=f"hop-journal:mlflow-{client.version}")
            findings = deviations.apply([_named(f, client.version, plan.server) for f in judged], date.today())
            ids = [_add_naming(report, f, client.version) for f in findings]
            unknown = [f for f in findings if not f.known]
            report.checks.append(CheckRecord(
                suite="hop-journal", name=f"{Hop.PROXY_TO_MLFLOW} (mlflow-{client.version} client, {kind.value})",
                status=CheckStatus.FAILED if unknown else CheckStatus.PASSED, cases=len(entries), finding_ids=ids,
                message="; ".join(f"{f.kind.value} at {f.location} on {f.operation}" for f in unknown[:5])
                or f"{len(entries)} requests of the MLflow {client.version} client judged against "
                   f"{contract.display_path}"))


def _named(finding: Finding, client: str, server: str) -> Finding:
    """The finding, saying which client sent the request and which server's contract judged it."""
    return finding.model_copy(update={
        "observed": f"{finding.observed} (sent for the MLflow {client} client; judged by MLflow {server}'s contract)",
        "recommendation": f"{finding.recommendation} MLflow {client} clients call this; the MLflow {server} server "
                          "behind the proxy must serve it, or the proxy must answer it, for them to work.",
    })


def _add_naming(report: Report, finding: Finding, client: str) -> int:
    """``report.add_finding``; merged into an earlier client's finding, that one names this client too."""
    count = len(report.findings)
    index = report.add_finding(finding)
    if index < count and f"MLflow {client} client" not in report.findings[index].observed:
        merged = report.findings[index]
        merged.observed = f"{merged.observed} (also the MLflow {client} client)"
    return index


def add_mlflow_diffs(report: Report, plan: VersionPlan, report_dir: Path, out: Out) -> None:
    """For each client older than the server: the REST differences, as warnings and a JSON file."""
    from hokusai_contracts.run.mlflow_diff import diff_mlflow_versions, render_text

    for client in sorted({c.version for c in plan.clients if Version(c.version) < Version(plan.server)}, key=Version):
        diff = diff_mlflow_versions(client, plan.server)
        path = report_dir / f"mlflow-diff-{client}-{plan.server}.json"
        report_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(diff.model_dump_json(indent=2) + "\n", "utf-8")
        report.warnings.append(f"MLflow {client} clients of this MLflow {plan.server} server: {len(diff.changes)} REST "
                               f"changes, {len(diff.breaking)} breaking for them ({path.name}): "
                               + ("; ".join(c.summary for c in diff.breaking[:10]) or "none breaking"))
        shown = render_text(diff).split("\nCompatible (", 1)[0]  # the full list is in the file
        out(f"\n{shown}\n  (every change: {path})")


def _relative(path: Path) -> str:
    base = files.contracts_dir()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


# -- live runs ----------------------------------------------------------------------------------

_VERSION_TEXT = re.compile(r"^\s*v?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)\s*$")


def detect_mlflow_version(client: httpx.Client, mlflow_url: str | None, proxy_url: str, api_key: str) -> str | None:
    """What the live server's ``GET /version`` answers: MLflow direct if configured, else through the proxy."""
    url, headers = (f"{mlflow_url.rstrip('/')}/version", {}) if mlflow_url else (
        f"{proxy_url.rstrip('/')}/version", {"Authorization": f"Bearer {api_key}"})
    try:
        answer = client.get(url, headers=headers)
    except httpx.HTTPError:
        return None
    found = _VERSION_TEXT.match(answer.text[:100]) if answer.status_code == 200 else None
    return found.group(1) if found else None


def live_contracts(version: str | None, report: Report) -> MlflowContracts | None:
    """The committed contracts of the live server's version, if it is not the pinned one; else None (pinned kept)."""
    report.targets.mlflow_version = version
    if version is None:
        report.warnings.append("the live MLflow server's version is unknown (GET /version did not answer one): "
                               f"judged with the pinned MLflow {pinned_version()}'s contracts")
        return None
    if version == pinned_version():
        return None
    if version in committed_versions():
        return mlflow_contracts(version)
    report.warnings.append(f"the live MLflow server runs {version}, which has no committed contract: judged with the "
                           f"pinned MLflow {pinned_version()}'s contracts (`make contracts MLFLOW_VERSION={version}` "
                           "and a review would give it one)")
    return None
