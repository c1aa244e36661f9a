"""Preflight: is every part up and answering in time, before the suites spend minutes on it?

Incident 5: the auth service was offline, and later MLflow sat behind a broken
load balancer; the scripts of the day reported both as authentication
failures. Preflight asks each part directly, and the proxy for its own view,
and turns silence, refusals and 5xx into ``unreachable``/``timeout``/
``server_error`` findings on the hop that failed, so the diagnosis can say
"infrastructure: auth" instead of "bad key". Each finding cites the documented answers of the
operation it asked (``contracts``: the run's auth, MLflow and proxy contracts) and keeps its
exchange, so the report gives a curl for it.

An answer is more than "up": the proxied read with the valid key must succeed (a 404 or 400 there
is a broken route, a finding; a refusal is the credential checks' to judge), and the proxy's health
must answer a status its contract documents. Those findings say the part is broken, not down: only
the outage kinds (``parts_down``) skip what follows. When the MLflow side's contract requires a key
(a gateway's overlay), MLflow is also read directly with it, as the direct checks do, so that the
gateway's own validate call is made (and journaled on ``mlflow->auth``) even when the proxy refuses all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from hokusai_contracts.checks.probes.http import ProbeResult, probe
from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import requires_credentials
from hokusai_contracts.domain.findings import ContractRef, Evidence, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult

__all__ = ["ContractSet", "Preflight", "run_preflight"]

SUITE = Suite.VERIFY_PROXY
#: Answers that mean the part, or what stands in front of it, is down.
_DOWN_STATUSES = frozenset({502, 503, 504})
#: What ``_judge`` finds of a part that is down, silent or failing: what later phases decide by.
_OUTAGES = frozenset({FindingKind.UNREACHABLE, FindingKind.TIMEOUT, FindingKind.SERVER_ERROR})
#: A read with the valid key may still be refused for who holds the key (the credential checks and the
#: journals judge why) or held back by a rate limit; any other answer but 2xx means the read is broken.
_REFUSALS = frozenset({401, 403, 429})
READ = "GET /api/2.0/mlflow/experiments/search"
#: The read's query in its URL, so that the exchange (and the curl made of it) keeps it.
_READ_URL = "/api/2.0/mlflow/experiments/search?max_results=1"


class ContractSet(Protocol):
    """The contracts of a run's three parts (``run.inputs.Inputs`` is one)."""

    @property
    def auth(self) -> Contract: ...
    @property
    def mlflow(self) -> Contract: ...
    @property
    def proxy(self) -> Contract: ...


def _receiver(contracts: ContractSet | None, hop: Hop) -> Contract | None:
    if contracts is None:
        return None
    return {"auth": contracts.auth, "mlflow": contracts.mlflow, "proxy": contracts.proxy}[hop.receiver]


def _ref(contracts: ContractSet | None, hop: Hop, operation: str) -> ContractRef | None:
    """Where the receiver's contract documents the answers of ``operation``."""
    contract = _receiver(contracts, hop)
    if contract is None:
        return None
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
    def parts_down(self) -> list[Finding]:
        """The outages found (a part silent, slow, or answering 5xx): not a broken route or an undocumented status."""
        return [f for f in self.findings if f.kind in _OUTAGES]

    @property
    def healthy(self) -> bool:
        # A part that is down is down, whatever a known deviation says about its answer.
        return not self.parts_down

    def up(self, part: str) -> bool:
        """Whether ``part`` (``auth``, ``mlflow``, ``proxy``) answered: no outage on a hop it receives."""
        return not any(f.hop.receiver == part for f in self.parts_down)

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


def _judge_read(result: ProbeResult, hop: Hop, operation: str, contract: ContractRef | None) -> Finding | None:
    """A read its contract serves, asked with the valid key: an answer that is neither 2xx, a refusal nor an
    outage (``_judge``'s) means the read itself is broken: a 404 its route, anything else the request."""
    status = result.status
    if status is None or 200 <= status < 300 or status in _REFUSALS or status >= 500:
        return None
    kind, location = (FindingKind.PATH_NOT_FOUND, "path") if status == 404 else \
        (FindingKind.REJECTED_VALID_REQUEST, "status")
    path = operation.partition(" ")[2]
    return Finding(
        hop=hop, operation=operation, kind=kind, location=location, contract=contract, suite=SUITE,
        expected="2xx: the read every MLflow client makes first (max_results=1), with the valid key",
        observed=f"{status} {result.text()}", exchanges=[result.exchange()],
        recommendation=_read_advice(hop, path, status))


def _read_advice(hop: Hop, path: str, status: int) -> str:
    if hop is Hop.CLIENT_TO_MLFLOW:  # MLflow's own URL, as the run was given it (its prefix included)
        return (f"MLflow does not serve {path} where the run was told it is: check the prefix it serves under "
                "(MLFLOW_PREFIX, its static prefix) and its URL." if status == 404 else
                f"MLflow (or its gateway) must serve GET {path} to a caller holding a valid key.")
    return (f"Route {path} to MLflow unchanged (a 404 means no route: check the proxy's mount and the MLflow URL "
            "it forwards to)." if status == 404 else
            f"The proxy must serve GET {path} to a client holding a valid key, as MLflow does.")


def _judge_status(result: ProbeResult, contracts: ContractSet | None, hop: Hop, operation: str) -> list[Finding]:
    """An answer whose status the receiver's contract does not document (production's health: 401)."""
    contract = _receiver(contracts, hop)
    if contract is None or result.response is None:
        return []
    method, _, path = operation.partition(" ")
    found = [f for f in judge_response(contract, hop, method, path, status=result.response.status_code,
                                       headers=dict(result.response.headers), body=result.response.content)
             if f.location == "status"]
    for finding in found:
        finding.suite, finding.exchanges = SUITE, [result.exchange()]
    return found


@dataclass(frozen=True)
class _Asked:
    """One preflight request and how its answer is judged beyond "up": as a read, by its statuses, or not."""

    name: str
    hop: Hop
    operation: str
    result: ProbeResult
    judged_as: str = ""  # "read", "status" or nothing


def _asked(proxy_url: str, auth_url: str, mlflow_url: str | None, api_key: str, mlflow_key: bool,
           ask: Callable[..., ProbeResult]) -> list[_Asked]:
    asked = [
        _Asked("auth health", Hop.CLIENT_TO_AUTH, "GET /health", ask("GET", auth_url.rstrip("/") + "/health")),
        _Asked("auth validate", Hop.CLIENT_TO_AUTH, "POST /api/v1/keys/validate",
               ask("POST", auth_url.rstrip("/") + "/api/v1/keys/validate",
                   json={"api_key": api_key, "service_id": "platform"})),
    ]
    bearer = {"Authorization": f"Bearer {api_key}"}
    if mlflow_url:
        asked.append(_Asked("mlflow health", Hop.CLIENT_TO_MLFLOW, "GET /health",
                            ask("GET", mlflow_url.rstrip("/") + "/health")))
        if mlflow_key:  # a gateway's MLflow: read with the key, so its validate call is made (and journaled)
            asked.append(_Asked("mlflow read", Hop.CLIENT_TO_MLFLOW, READ,
                                ask("GET", mlflow_url.rstrip("/") + _READ_URL, headers=bearer), "read"))
    return [*asked,
            _Asked("proxy health", Hop.CLIENT_TO_PROXY, "GET /health/mlflow",
                   ask("GET", proxy_url.rstrip("/") + "/health/mlflow"), "status"),
            _Asked("proxied read", Hop.CLIENT_TO_PROXY, READ,
                   ask("GET", proxy_url.rstrip("/") + _READ_URL, headers=bearer), "read")]


def run_preflight(proxy_url: str, auth_url: str, mlflow_url: str | None, api_key: str, *,
                  timeout: float = 15.0, slow_after_s: float = 5.0, verify: str | bool = True,
                  client: httpx.Client | None = None, contracts: ContractSet | None = None) -> Preflight:
    """Probe auth, MLflow and the proxy; ``proxy_url`` is the tracking URI (with the mount).

    MLflow is read with the key only when its contract (``contracts.mlflow``) requires one.
    """
    outcome = Preflight()

    def ask(method: str, url: str, **kwargs: Any) -> ProbeResult:
        return probe(method, url, timeout=timeout, verify=verify, client=client, **kwargs)

    mlflow_key = contracts is not None and requires_credentials(contracts.mlflow)
    for asked in _asked(proxy_url, auth_url, mlflow_url, api_key, mlflow_key, ask):
        hop, operation, result = asked.hop, asked.operation, asked.result
        ref = _ref(contracts, hop, operation)
        outage = _judge(result, hop, operation, slow_after_s, ref)
        findings = [outage] if outage is not None else []
        if outage is None and asked.judged_as == "read":
            broken = _judge_read(result, hop, operation, ref)
            findings += [broken] if broken is not None else []
        elif outage is None and asked.judged_as == "status":
            findings += _judge_status(result, contracts, hop, operation)
        answer = f"{result.status}" if result.status is not None else (result.error or "")
        down = result.error is not None or result.status in _DOWN_STATUSES or (
            outage is not None and outage.kind in (FindingKind.UNREACHABLE, FindingKind.TIMEOUT))
        outcome.checks.append(Check(
            suite=SUITE, name=asked.name, operation=operation, seconds=round(result.seconds, 3), cases=1,
            status=CheckStatus.PASSED, findings=findings,
            message=f"{answer} in {result.seconds:.2f} s" + (f": {findings[0].observed}" if findings else ""),
            evidence=Evidence.INFRASTRUCTURE_DOWN if outage is not None and down else None,
        ))
    return outcome
