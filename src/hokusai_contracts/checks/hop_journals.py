"""The hop journals of a local run, judged: what the proxy sent to the auth service and to MLflow.

The proxy->MLflow journal is judged in full only for the traffic of the registration scenario
(a real client's valid requests, the first ``scenario_entries``); what the fuzzers sent through
the proxy afterwards is judged for credential leaks only. The proxy's answers to the run's own
clients on the client->proxy journal (after a replay, before the suites: the scenario's, the multipart
check's) are judged against the proxy's contract; the suites judge their own, and the replay compares
its answers with the recording's. For the reference proxy the
proxy->auth journal is also compared with the committed consumer expectations
(``contracts/consumers/mlflow-proxy.yaml``): a location the proxy sends that the file lacks is a
warning, and the file is rewritten only on request (``UPDATE_CONSUMERS=1``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hokusai_contracts.checks.artifact_locations import judge_locations
from hokusai_contracts.checks.replayed_forwards import split_by_cause
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.journal.judging import coverage_of, judge_journal
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.journal.transit import compare_transit
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, Coverage, PhaseResult, UnknownNote, Verdict
from hokusai_contracts.spec.consumers import compare_with_journal
from hokusai_contracts.stack.processes import StackEndpoints

__all__ = ["ConsumerExpectations", "client_entries", "findings_so_far", "judge_hop_journals", "other_service_ids",
           "scenario_entries"]

SUITE = Suite.HOP_JOURNAL
#: Where the full observation of the proxy's calls goes, for review, inside the report directory.
OBSERVED_DIR = "consumers"


@dataclass(frozen=True)
class ConsumerExpectations:
    """The committed expectations file to compare the proxy->auth journal with."""

    committed: Path
    #: How the file is named to the user (relative to the project).
    display: str
    #: Rewrite the committed file with what it lacks (an explicit choice), instead of warning.
    update: bool = False


def scenario_entries(endpoints: StackEndpoints) -> int:
    """How many proxy->MLflow requests the journal holds now: those before the fuzzers start."""
    return len(read_journal(endpoints.mlflow_journal)) if endpoints.mlflow_journal else 0


def client_entries(client_journal: Path) -> int:
    """How many client->proxy exchanges the journal in front of the proxy holds now: those before the suites."""
    return len(read_journal(client_journal)) if client_journal.exists() else 0


def findings_so_far(endpoints: StackEndpoints, auth: Contract, mlflow: Contract, *,
                    replayed_outside_contract: Sequence[HttpExchange] = ()) -> list[Finding]:
    """The proxy's hop journals judged as they stand: what its calls so far broke, seconds into a run."""
    found: list[Finding] = []
    for hop, journal, contract in _journals(endpoints, auth, mlflow):
        if journal is None:
            continue
        entries = read_journal(journal)
        if hop is Hop.PROXY_TO_MLFLOW:
            found += _judge_mlflow_journal(entries, len(entries), contract, replayed_outside_contract)
        else:
            found += judge_journal(entries, contract, hop)
    return found


def judge_hop_journals(endpoints: StackEndpoints, auth: Contract, mlflow: Contract, *, scenario_count: int,
                       consumers: ConsumerExpectations | None,
                       out: Callable[[str], None] = print, client_journal: Path | None = None,
                       mount: str = "", proxy: Contract | None = None,
                       client_answers: tuple[int, int] = (0, 0),
                       replayed_outside_contract: Sequence[HttpExchange] = ()) -> PhaseResult:
    started = time.perf_counter()
    phase = PhaseResult(coverage=Coverage())
    assert phase.coverage is not None
    for hop, journal, contract in _journals(endpoints, auth, mlflow):
        if journal is None:
            continue
        entries = read_journal(journal)
        if hop is Hop.PROXY_TO_MLFLOW:
            judged = _judge_mlflow_journal(entries, scenario_count, contract, replayed_outside_contract)
        else:
            judged = judge_journal(entries, contract, hop)
            judged += other_service_ids(entries, hop, endpoints.service_id, judged)
            if consumers is not None and hop is Hop.PROXY_TO_AUTH:
                phase.extend(_compare_consumers(entries, contract, consumers, out))
        file_name = Path(contract.display_path).name
        phase.checks.append(Check(suite=SUITE, name=f"{hop} ({len(entries)} requests)", status=CheckStatus.PASSED,
                                  cases=len(entries), findings=judged, note=UnknownNote.REPLACE,
                                  message=f"{len(entries)} requests judged against {file_name}"))
        for operation, statuses in coverage_of(entries, contract).items():
            phase.coverage.add(contract.display_path, operation, statuses)
    sent = read_journal(client_journal) if client_journal is not None else []
    if client_journal is not None and endpoints.mlflow_journal is not None:
        # MLflow's own prefix (MLFLOW_PREFIX) is where the proxy was pointed, not a change it made.
        prefix = endpoints.mlflow_prefix
        received = [dataclasses.replace(e, path=e.path.removeprefix(prefix),
                                        raw_path=e.raw_path.removeprefix(prefix) if e.raw_path else e.raw_path)
                    for e in read_journal(endpoints.mlflow_journal)]
        phase.extend(_judge_transit(sent, received, mlflow, mount))
    if proxy is not None:
        phase.checks.append(_artifact_locations(sent, proxy, mount, endpoints.proxy_root))
        # What the clients called through the proxy counts as exercised (the scenario's deletes,
        # which the fuzzers leave alone), by the proxy contract's paths: the mount removed.
        unmounted = [dataclasses.replace(e, path=e.path.removeprefix(mount)) for e in sent
                     if e.path.startswith(mount + "/")]
        # The run's own clients' share of the journal: after a replay, before the suites.
        phase.checks.append(_client_answers(sent[client_answers[0]:client_answers[1]], proxy, mount))
        for operation, statuses in coverage_of(unmounted, proxy).items():
            phase.coverage.add(proxy.display_path, operation, statuses)
    phase.timings[PhaseName.HOP_JOURNALS] = round(time.perf_counter() - started, 3)
    return phase


def _judge_mlflow_journal(entries: list[HttpExchange], scenario_count: int, contract: Contract,
                          replayed_outside_contract: Sequence[HttpExchange]) -> list[Finding]:
    """The proxy->MLflow journal: a real client's requests in full, the rest (fuzzers', replayed
    requests outside the proxy's contract) for the key alone."""
    full, forwarded = split_by_cause(entries[:scenario_count], replayed_outside_contract)
    return (judge_journal(full, contract, Hop.PROXY_TO_MLFLOW, forbid_credentials=True)
            + judge_journal(forwarded + entries[scenario_count:], contract, Hop.PROXY_TO_MLFLOW,
                            forbid_credentials=True, leaks_only=True))


def other_service_ids(entries: list[HttpExchange], hop: Hop, service_id: str, judged: list[Finding]) -> list[Finding]:
    """A validate call for another service id than the stack's keys are issued for: why a valid key is refused.

    The judge already names a value outside the contract's enum; one inside it (``website``) is valid
    for the auth service and wrong for this deployment, which only the run knows.
    """
    if any(f.kind is FindingKind.UNKNOWN_VALUE and f.location == "body.service_id" for f in judged):
        return []
    for entry in entries:
        try:
            sent = json.loads(entry.request_body.text or "")
        except ValueError:
            continue
        asked = sent.get("service_id") if isinstance(sent, dict) else None
        if entry.path.endswith("/keys/validate") and isinstance(asked, str) and asked != service_id:
            return [Finding(
                hop=hop, operation="POST /api/v1/keys/validate", kind=FindingKind.UNKNOWN_VALUE,
                location="body.service_id", evidence=Evidence.OTHER_SERVICE_ID, suite=SUITE,
                expected=f"{service_id!r}: the service the keys it receives are issued for", observed=repr(asked),
                recommendation=f"The {hop.sender} must validate keys for {service_id!r} (its service id setting).")]
    return []


def _journals(endpoints: StackEndpoints, auth: Contract,
              mlflow: Contract) -> list[tuple[Hop, Path | None, Contract]]:
    """Each hop journal of the stack with the contract of its receiver."""
    return [(Hop.PROXY_TO_AUTH, endpoints.auth_journal, auth), (Hop.PROXY_TO_MLFLOW, endpoints.mlflow_journal, mlflow),
            # The MLflow side's own validate calls (a gateway's): judged by the auth contract as the proxy's are.
            (Hop.MLFLOW_TO_AUTH, endpoints.mlflow_auth_journal, auth)]


def _artifact_locations(sent: list[HttpExchange], proxy: Contract, mount: str, proxy_root: str) -> Check:
    """Every artifact location the clients were handed through the proxy, writable through it or a finding."""
    judged = judge_locations(sent, proxy, mount, urlsplit(proxy_root).netloc)
    name = "artifact locations"
    if not judged.schemes:
        # Nothing judged is nothing shown: a run whose scenario stopped early must not pass this.
        message = "no artifact location was handed to the client in this run"
        if judged.not_judged:
            message += (f" for an experiment it created without naming one ({judged.not_judged} others seen: "
                        "named by the client or made elsewhere, not judged)")
        return Check(suite=SUITE, name=name, status=CheckStatus.SKIPPED, cases=len(sent), message=message)
    schemes = ", ".join(judged.schemes)
    # With findings, the fold puts them in the message; known ones leave it saying what was seen, not "writable".
    return Check(suite=SUITE, name=name, status=CheckStatus.PASSED, cases=len(sent), findings=judged.findings,
                 note=UnknownNote.REPLACE, message=f"every artifact location handed to a client is writable through "
                                                   f"the proxy ({schemes})",
                 if_all_known=Verdict(CheckStatus.PASSED, f"artifact locations handed to a client: {schemes}; those "
                                      "not writable through the proxy are known deviations") if judged.findings
                 else None)


def _client_answers(sent: list[HttpExchange], proxy: Contract, mount: str) -> Check:
    """The proxy's answers to the real clients before the suites (the suites judge their own)."""
    unmounted = [dataclasses.replace(e, path=e.path.removeprefix(mount)) for e in sent
                 if e.path.startswith(mount + "/")]
    judged = judge_journal(unmounted, proxy, Hop.CLIENT_TO_PROXY, answers_only=True)
    return Check(suite=SUITE, name=f"{Hop.CLIENT_TO_PROXY} ({len(unmounted)} answers)", status=CheckStatus.PASSED,
                 cases=len(unmounted), findings=judged, note=UnknownNote.REPLACE,
                 message=f"{len(unmounted)} answers of the proxy to the clients judged against "
                         f"{Path(proxy.display_path).name}")


def _judge_transit(sent: list[HttpExchange], received: list[HttpExchange], mlflow: Contract,
                   mount: str) -> PhaseResult:
    """What the clients sent the proxy against what reached MLflow: every change the proxy made."""
    transit = compare_transit(sent, received, mlflow, mount=mount)
    check = Check(suite=SUITE, name=f"in transit ({transit.compared} requests)", status=CheckStatus.PASSED,
                  cases=transit.compared, findings=transit.findings, note=UnknownNote.REPLACE,
                  message=f"{transit.compared} requests compared as sent and as forwarded to MLflow")
    return PhaseResult(checks=[check], warnings=transit.warnings)


def _compare_consumers(entries: list[HttpExchange], contract: Contract, consumers: ConsumerExpectations,
                       out: Callable[[str], None]) -> PhaseResult:
    """What the proxy sent against what the committed expectations say it sends."""
    comparison = compare_with_journal(entries, contract, consumers.committed)
    result = PhaseResult(files={f"{OBSERVED_DIR}/{consumers.committed.name}": comparison.observed})
    if not comparison.missing:
        return result
    for operation, locations in comparison.missing.items():
        if consumers.update:
            out(f"The proxy now sends {', '.join(locations)} on {operation}: added to {consumers.committed.name}; "
                "review the diff.")
        else:
            result.warnings.append(
                f"{consumers.display}: the proxy sends {', '.join(locations)} on {operation}, which the file "
                "does not list; run `make contract-local UPDATE_CONSUMERS=1` to add it, then review the diff")
    if consumers.update and comparison.updated is not None:
        consumers.committed.write_text(comparison.updated, "utf-8")
    return result
