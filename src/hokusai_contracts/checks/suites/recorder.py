"""One test's record: the cases it sent, the statuses it saw, the findings it made.

A Schemathesis test runs many cases inside one pytest test. Raising on the
first failure would stop there and make Hypothesis shrink; recording every
failure as a finding and judging once at the end reports them all.

Some checks send requests of their own (``ignored_auth`` repeats the case without
authentication and with invalid authentication); Schemathesis records them in a
``ScenarioRecorder``, and a failure that names such a probe becomes a finding on
the probe's exchange, not on the case that had valid credentials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from schemathesis import Case, Response
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.openapi.checks import IgnoredAuth
from schemathesis.specs.openapi.checks import ignored_auth

from hokusai_contracts.checks.suites.context import SuiteContext
from hokusai_contracts.checks.suites.failures import exchange_of, finding_from_failure, operation_pointer
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import redact

__all__ = ["Recorder"]


@dataclass
class Recorder:
    suite: Suite
    hop: Hop
    contract: Contract
    context: SuiteContext
    findings: list[Finding] = field(default_factory=list)
    cases: int = 0
    # operation label -> statuses seen, for the coverage table
    statuses: dict[str, set[int]] = field(default_factory=dict)
    # One connection pool for all cases: a fresh connection per case costs more than the case.
    session: requests.Session = field(default_factory=requests.Session)
    #: Operations whose authentication the ``ignored_auth`` probes confirmed enforced. Enforcement is
    #: a property of the operation: Schemathesis' own runner confirms it once per run
    #: (``auth_enforced_operations``), but ``validate_response`` has no such memory and would send
    #: two probes after every accepted case (a third of a proxy suite's requests).
    auth_enforced: set[str] = field(default_factory=set)
    #: How many answers of each status the differential compared with MLflow's (``differential``).
    compared: Counter[int] = field(default_factory=Counter)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.context.api_key, self.context.admin_token) if s)

    def add(self, finding: Finding) -> None:
        for existing in self.findings:
            if existing.identity() == finding.identity():
                existing.count += 1
                return
        self.findings.append(finding)

    def call(self, case: Case[Any], base_url: str, headers: dict[str, str] | None = None,
             extra_checks: list[Callable[..., Any]] | None = None) -> Response | None:
        """Send ``case``, validate the answer with Schemathesis' checks, record what broke."""
        self.cases += 1
        label = f"{case.method.upper()} {case.operation.path}"
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=self.context.request_timeout_s,
                                 verify=self.context.ca_bundle or True, session=self.session)
        except requests.Timeout as exc:
            self._transport_problem(case, FindingKind.TIMEOUT, f"no answer within "
                                    f"{self.context.request_timeout_s:.0f} s", exc)
            return None
        except requests.ConnectionError as exc:
            self._transport_problem(case, FindingKind.UNREACHABLE, "the connection failed", exc)
            return None
        self.statuses.setdefault(label, set()).add(response.status_code)
        for failure, sent, answer, curl_headers in self.judge(case, response, headers, extra_checks):
            self.add(finding_from_failure(failure, sent, answer, self.contract, self.hop, self.suite,
                                          self.secrets, curl_headers))
        return response

    def judge(self, case: Case[Any], response: Response, headers: dict[str, str] | None = None,
              extra_checks: list[Callable[..., Any]] | None = None
              ) -> list[tuple[Failure, Case[Any], Response, dict[str, str] | None]]:
        """Schemathesis' checks on ``response``: each failure with the case and answer it is about.

        That is ``case`` and ``response`` themselves, or the probe a check sent on its own (with the
        probe's own headers only: the caller's credentials are exactly what the probe left out).
        """
        probes = ScenarioRecorder(label=f"{case.method.upper()} {case.operation.path}")
        failures: list[Failure] = []
        operation = case.operation.label
        confirmed = [ignored_auth] if operation in self.auth_enforced else None
        try:
            case.validate_response(response, headers=headers, additional_checks=extra_checks,
                                   excluded_checks=confirmed, recorder=probes)
        except FailureGroup as group:
            failures = list(group.exceptions)
        except Failure as single:
            failures = [single]
        if probes.interactions and not any(isinstance(failure, IgnoredAuth) for failure in failures):
            # The probes went out and were refused: confirmed. An operation that let one in is
            # probed again on every case, so each such case is a finding.
            self.auth_enforced.add(operation)
        judged: list[tuple[Failure, Case[Any], Response, dict[str, str] | None]] = []
        for failure in failures:
            node = probes.cases.get(failure.case_id) if failure.case_id and failure.case_id != case.id else None
            sent = probes.interactions.get(failure.case_id) if node is not None and failure.case_id else None
            if node is not None and sent is not None and isinstance(sent.response, Response):
                judged.append((failure, node.value, sent.response, None))
            else:
                judged.append((failure, case, response, headers))
        return judged

    def _transport_problem(self, case: Case[Any], kind: FindingKind, what: str, exc: Exception) -> None:
        self.add(Finding(
            hop=self.hop, operation=f"{case.method.upper()} {case.operation.path}", kind=kind, location="connection",
            contract=self.contract.ref(operation_pointer(case)), expected="an HTTP answer",
            observed=redact(f"{what}: {type(exc).__name__}", self.secrets),
            recommendation=f"Check that the {self.hop.receiver} is up and reachable from here.",
            suite=self.suite, exchanges=[exchange_of(case, None, error=type(exc).__name__)],
        ))
