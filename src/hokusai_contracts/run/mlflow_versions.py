"""What ``MLFLOW_VERSION`` and ``MLFLOW_CLIENTS`` add to a run.

``prepare_versions`` runs before the stack starts, so bad input is exit 2 with nothing to undo:
it checks the versions, builds (or finds) each version's environment and finds each version's
contracts (through ``contracts_for``: the command generates what is not committed). The server
version's pair is what the suites and the proxy->mlflow journal are judged by.

``client_scenarios`` is the phase that runs the registration scenario once per client version,
each with its own MLflow client in its own environment, through the proxy under test, after the
hop journals were judged: it judges each client's own slice of the proxy->mlflow journal against
the *server* version's contract, so a client calling an operation that server does not have is an
``unknown_operation`` finding naming the client. Its checks are ``mlflow-<client>:<model>:<step>``.

``mlflow_diffs`` lists, for every client older than the server, what changed in the REST API
between the two (``mlflow-diff``): the report's warnings and ``mlflow-diff-OLD-NEW.json``.

``detect_mlflow_version`` and ``live_contracts`` are the live run's: the server's ``GET /version``,
and its committed contracts when it has some.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from packaging.version import Version

from hokusai_contracts.checks.client_versions import client_checks, run_client_scenario
from hokusai_contracts.checks.scenario import ModelKind
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.mlflow_versions import (
    MlflowContracts,
    check_version,
    committed_contracts,
    pinned_version,
)
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.journal.judging import judge_journal
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.report.model import CheckStatus, Targets
from hokusai_contracts.report.phase import Check, PhaseResult, UnknownNote
from hokusai_contracts.run.mlflow_diff import ContractsFor, committed_only, diff_mlflow_versions, render_text
from hokusai_contracts.stack.health import StackEndpoints
from hokusai_contracts.stack.mlflow_env import MlflowEnvironment, mlflow_environment

__all__ = ["VersionPlan", "client_scenarios", "detect_mlflow_version", "live_contracts", "mlflow_diffs",
           "prepare_versions"]

Out = Callable[[str], None]


@dataclass
class VersionPlan:
    server: str
    contracts: MlflowContracts
    clients: list[MlflowEnvironment] = field(default_factory=list)
    #: Each version's contracts, the server's and every client's.
    contracts_for: ContractsFor = committed_only

    @property
    def client_versions(self) -> list[str]:
        return [client.version for client in self.clients]

    def targets(self, targets: Targets) -> Targets:
        return targets.model_copy(update={"mlflow_version": self.server, "client_versions": self.client_versions})

    def contract_files(self) -> dict[str, str]:
        """The suites' contract files read in the pinned pair's place (none for the pinned version)."""
        base = files.contracts_dir()
        chosen = {"mlflow.yaml": self.contracts.mlflow, "mlflow-proxy.yaml": self.contracts.proxy}
        shown = {name: path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
                 for name, path in chosen.items()}
        return {name: path for name, path in shown.items() if path != name}

    def warnings(self) -> list[str]:
        if self.contracts.reviewed:
            return []
        return [f"the contracts of MLflow {self.server} were generated on demand from its protos "
                f"({self.contracts.mlflow}); their deviations have not been reviewed, so a finding may be MLflow's own"]


def prepare_versions(mlflow_version: str | None, mlflow_clients: list[str], out: Out,
                     contracts_for: ContractsFor = committed_only) -> VersionPlan:
    """Every environment and contract the run needs, before the stack starts (``UsageError`` if any is bad)."""
    server = mlflow_environment(mlflow_version, "MLFLOW_VERSION", out)
    contracts = contracts_for(server.version, "MLFLOW_VERSION")
    clients = [mlflow_environment(check_version(v, "MLFLOW_CLIENTS"), "MLFLOW_CLIENTS", out) for v in mlflow_clients]
    plan = VersionPlan(server.version, contracts, clients, contracts_for)
    for older in _older_clients(plan):
        contracts_for(older, "MLFLOW_CLIENTS")  # made now, so that the diff after the run cannot fail
    return plan


def client_scenarios(plan: VersionPlan, endpoints: StackEndpoints, models: list[ModelKind], out: Out) -> PhaseResult:
    """The scenario per client version and model; each client's journal slice judged by the server's contract."""
    contract = Contract.load(plan.contracts.mlflow, root=files.contracts_root())
    result = PhaseResult()
    journal = endpoints.mlflow_journal
    judged: list[tuple[Check, str]] = []
    for client in plan.clients:
        for kind in models:
            out(f"\n— Registration scenario with the MLflow {client.version} client ({kind.value}) —")
            before = len(read_journal(journal)) if journal is not None and journal.exists() else 0
            run = run_client_scenario(client, endpoints.proxy_url, endpoints.api_key, model_kind=kind,
                                      health_url=endpoints.proxy_url + "/health/mlflow", out=out)
            result.checks += client_checks(run)
            result.timings[f"{PhaseName.SCENARIO}.mlflow-{client.version}.{kind.value}"] = round(run.seconds, 3)
            if journal is None:
                continue
            entries = read_journal(journal)[before:]
            check = Check(suite=Suite.HOP_JOURNAL, status=CheckStatus.PASSED, cases=len(entries),
                          name=f"{Hop.PROXY_TO_MLFLOW} (mlflow-{client.version} client, {kind.value})",
                          findings=judge_journal(entries, contract, Hop.PROXY_TO_MLFLOW, forbid_credentials=True),
                          note=UnknownNote.REPLACE,
                          message=f"{len(entries)} requests of the MLflow {client.version} client judged against "
                                  f"{contract.display_path}")
            judged.append((check, client.version))
            result.checks.append(check)
    _name_clients(judged, plan.server)
    return result


def _name_clients(judged: list[tuple[Check, str]], server: str) -> None:
    """Each finding says which clients sent such a request; the fold merges equal ones into one."""
    senders: dict[tuple[str, str, str, str], list[str]] = {}
    for check, version in judged:
        for finding in check.findings:
            names = senders.setdefault(finding.identity(), [])
            if version not in names:
                names.append(version)
    for check, _ in judged:
        check.findings = [_named(f, senders[f.identity()], server) for f in check.findings]


def _named(finding: Finding, clients: list[str], server: str) -> Finding:
    who = ", ".join(f"MLflow {client}" for client in clients)
    return finding.model_copy(update={
        "observed": f"{finding.observed} (sent for the {who} client{'s' if len(clients) > 1 else ''}; judged by "
                    f"MLflow {server}'s contract)",
        "recommendation": f"{finding.recommendation} {who} clients send this; the MLflow {server} server behind the "
                          "proxy must serve it (or the proxy answer it) for them to work.",
    })


def _older_clients(plan: VersionPlan) -> list[str]:
    return sorted({v for v in plan.client_versions if Version(v) < Version(plan.server)}, key=Version)


def mlflow_diffs(plan: VersionPlan, out: Out) -> PhaseResult:
    """For each client older than the server: the REST differences, as warnings and a JSON file."""
    started = time.perf_counter()
    result = PhaseResult()
    for client in _older_clients(plan):
        diff = diff_mlflow_versions(client, plan.server, plan.contracts_for)
        name = f"mlflow-diff-{client}-{plan.server}.json"
        result.files[name] = diff.model_dump_json(indent=2) + "\n"
        result.warnings.append(f"MLflow {client} clients of this MLflow {plan.server} server: {len(diff.changes)} REST "
                               f"changes, {len(diff.breaking)} breaking for them ({name}): "
                               + ("; ".join(c.summary for c in diff.breaking[:10]) or "none breaking"))
        shown = render_text(diff).split("\nCompatible (", 1)[0]  # the full list is in the file
        out(f"\n{shown}\n  (every change: {name})")
    result.timings[PhaseName.MLFLOW_DIFF] = round(time.perf_counter() - started, 3)
    return result


# -- live runs ----------------------------------------------------------------------------------

_VERSION_TEXT = re.compile(r"^\s*v?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)\s*$")


def detect_mlflow_version(client: httpx.Client, mlflow_url: str | None, proxy_url: str, api_key: str) -> str | None:
    """What the live server's ``GET /version`` answers: MLflow direct if configured, else through the proxy.

    Direct, it goes without the key (no contract requires one at ``/version``); a gateway in front of
    MLflow refuses that, and the proxy (where the key goes anyway) is asked instead.
    """
    asked: list[tuple[str, dict[str, str]]] = [(f"{mlflow_url.rstrip('/')}/version", {})] if mlflow_url else []
    asked.append((f"{proxy_url.rstrip('/')}/version", {"Authorization": f"Bearer {api_key}"}))
    for url, headers in asked:
        try:
            answer = client.get(url, headers=headers)
        except httpx.HTTPError:
            return None
        found = _VERSION_TEXT.match(answer.text[:100]) if answer.status_code == 200 else None
        if found:
            return found.group(1)
        if answer.status_code not in (401, 403):
            return None
    return None


def live_contracts(version: str | None) -> tuple[MlflowContracts | None, list[str]]:
    """The committed contracts of the live server's version when not the pinned one (else None), and warnings."""
    if version is None:
        return None, ["the live MLflow server's version is unknown (GET /version did not answer one): judged with "
                      f"the pinned MLflow {pinned_version()}'s contracts"]
    if version == pinned_version():
        return None, []
    found = committed_contracts(version)
    if found is not None:
        return found, []
    return None, [f"the live MLflow server runs {version}, which has no committed contract: judged with the pinned "
                  f"MLflow {pinned_version()}'s contracts (`make contracts MLFLOW_VERSION={version}` and a review "
                  "would give it one)"]
