"""Preflight: is every part up and answering in time, before the suites spend minutes on it?

Incident 5: the auth service was offline, and later MLflow sat behind a broken
load balancer; the scripts of the day reported both as authentication
failures. Preflight asks each part directly, and the proxy for its own view,
and turns silence, refusals and 5xx into ``unreachable``/``timeout``/
``server_error`` findings on the hop that failed, so the diagnosis can say
"infrastructure: auth" instead of "bad key". Each finding cites the documented answers of the
operation it asked (``contracts``: the run's auth, MLflow and proxy contracts) and keeps its
exchange, so the report gives a curl for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx

from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import ContractRef, Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult

__all__ = ["ContractSet", "Preflight", "run_preflight"]

SUITE = Suite.VERIFY_PROXY
#: Answers that mean the part, or what stands in front of it, is down.
_DOWN_STATUSES = frozenset({502, 503, 504})


class ContractSet(Protocol):
    """The contracts of a run's three parts (``run.inputs.Inputs`` is one)."""

    @property
    def auth(self) -> Contract: ...
    @property
    def mlflow(self) -> Contract: ...
    @property
    def proxy(self) -> Contract: ...


def _ref(contracts: ContractSet | None, hop: Hop, operation: str) -> ContractRef | None:
    """Where the receiver's contract documents the answers of ``operation``."""
    if contracts is None:
        return None
    contract = {"auth": contracts.auth, "mlflow": contracts.mlflow, "proxy": contracts.proxy}[hop.receiver]
    method, _, path = operation.partition(" ")
    match = contract.match(method, path)
    return contract.ref(match.operation.pointer + "/responses") if match else None


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for check in self.checks for f in check.findings]

    @property
    def healthy(self) -> bool:
        # A part that is down is down, whatever a known deviation says about its answer.
        return not self.findings

    def up(self, part: str) -> bool:
        """Whether ``part`` (``auth``, ``mlflow``, ``proxy``) answered: no finding on a hop it receives."""
        return not any(f.hop.receiver == part for f in self.findings)

    def result(self) -> PhaseResult:
        return PhaseResult(checks=list(self.checks))


def _part_from_message(text: str, body: object = None) -> Hop | None:
    if isinstance(body, dict):
        # A health document: {"mlflow": {"status": "unreachable"}, "auth": {"status": "healthy"}}.
        sick = [name for name, part in body.items() if isinstance(part, dict)
                and str(part.get("status", "healthy")) != "healthy"]
        text = " ".join(sick) or text
    lowered = text.lower()
    if "auth" in lowered:
        return Hop.PROXY_TO_AUTH
    if "mlflow" in lowered:
        return Hop.PROXY_TO_MLFLOW
    return None


def _json(result: ProbeResult) -> object:
    try:
        return result.response.json() if result.response is not None else None
    except ValueError:
        return None


def _judge(result: ProbeResult, hop: Hop, operation: str, slow_after_s: float,
           contract: ContractRef | None = None) -> Finding | None:
    """A finding when the part is silent, refuses, answers 5xx, or takes too long; None when fine."""
    if result.error == "timeout" or (result.response is not None and result.seconds > slow_after_s):
        kind, observed = FindingKind.TIMEOUT, f"no answer within {result.seconds:.1f} s"
    elif result.error:
        kind, observed = FindingKind.UNREACHABLE, result.error
    elif result.status is not None and result.status >= 500:
        kind, observed = FindingKind.SERVER_ERROR, f"{result.status} {result.text()}"
        if hop is Hop.CLIENT_TO_PROXY:
            # The proxy's own 502/503/504 names the upstream it could not reach.
            upstream = _part_from_message(result.text(), _json(result))
            if upstream is not None and result.status in (502, 503, 504):
                hop = upstream
                kind = FindingKind.TIMEOUT if result.status == 504 else FindingKind.UNREACHABLE
    else:
        return None
    return Finding(
        hop=hop, operation=operation, kind=kind, location="connection" if result.error else "status",
        expected=f"an answer within {slow_after_s:.0f} s and no 5xx", observed=observed,
        recommendation=f"Check that the {hop.receiver} is up and reachable from the {hop.sender} "
                       "(service, load balancer, network) before looking at keys or contracts.",
        suite=SUITE, exchanges=[result.exchange()], contract=contract,
    )


def run_preflight(proxy_url: str, auth_url: str, mlflow_url: str | None, api_key: str, *,
                  timeout: float = 15.0, slow_after_s: float = 5.0, verify: str | bool = True,
                  client: httpx.Client | None = None, contracts: ContractSet | None = None) -> Preflight:
    """Probe auth, MLflow and the proxy; ``proxy_url`` is the tracking URI (with the mount)."""
    outcome = Preflight()
    probes: list[tuple[str, Hop, str, ProbeResult]] = [
        ("auth health", Hop.CLIENT_TO_AUTH, "GET /health",
         probe("GET", auth_url.rstrip("/") + "/health", timeout=timeout, verify=verify, client=client)),
        ("auth validate", Hop.CLIENT_TO_AUTH, "POST /api/v1/keys/validate",
         probe("POST", auth_url.rstrip("/") + "/api/v1/keys/validate", timeout=timeout, verify=verify, client=client,
               json={"api_key": api_key, "service_id": "platform"})),
    ]
    if mlflow_url:
        probes.append(("mlflow health", Hop.CLIENT_TO_MLFLOW, "GET /health",
                       probe("GET", mlflow_url.rstrip("/") + "/health", timeout=timeout, verify=verify, client=client)))
    probes += [
        ("proxy health", Hop.CLIENT_TO_PROXY, "GET /health/mlflow",
         probe("GET", proxy_url.rstrip("/") + "/health/mlflow", timeout=timeout, verify=verify, client=client)),
        ("proxied read", Hop.CLIENT_TO_PROXY, "GET /api/2.0/mlflow/experiments/search",
         probe("GET", proxy_url.rstrip("/") + "/api/2.0/mlflow/experiments/search", timeout=timeout,
               verify=verify, client=client, params={"max_results": 1},
               headers={"Authorization": f"Bearer {api_key}"})),
    ]
    for name, hop, operation, result in probes:
        finding = _judge(result, hop, operation, slow_after_s, _ref(contracts, hop, operation))
        answer = f"{result.status}" if result.status is not None else (result.error or "")
        down = result.error is not None or result.status in _DOWN_STATUSES or (
            finding is not None and finding.kind in (FindingKind.UNREACHABLE, FindingKind.TIMEOUT))
        outcome.checks.append(Check(
            suite=SUITE, name=name, operation=operation, seconds=round(result.seconds, 3), cases=1,
            status=CheckStatus.PASSED, findings=[finding] if finding else [],
            message=f"{answer} in {result.seconds:.2f} s" + (f": {finding.observed}" if finding else ""),
            evidence=Evidence.INFRASTRUCTURE_DOWN if finding is not None and down else None,
        ))
    return outcome
