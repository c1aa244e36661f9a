"""Every live probe's finding cites its contract and keeps its exchange, so the report has a curl (issue 23).

The same broken upstreams as test_checks.py (httpx.MockTransport behind the real gate), each
finding folded as the live run folds it.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from hokusai_contracts.checks.live.auth_checks import run_auth_checks
from hokusai_contracts.checks.live.bearer_checks import run_bearer_checks
from hokusai_contracts.checks.live.investigate import run_investigation
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.report.model import Targets
from hokusai_contracts.run.fold import reproduce
from tests.checks.live.test_checks import AUTH, MLFLOW, PROXY, _auth_service, _mlflow_like, _probes, _run

CASES: dict[str, tuple[Callable[[LiveProbes], None], Callable[[httpx.Request], httpx.Response], list[str] | None]] = {
    "a proxy ignoring the key": (run_bearer_checks, lambda r: _mlflow_like(r, check_key=False), None),
    "a proxy refusing the valid key": (run_bearer_checks, lambda r: httpx.Response(
        401, json={"error_code": "UNAUTHENTICATED", "message": "x"}, headers={"WWW-Authenticate": "Bearer"}),
        ["platform"]),
    "a key of another service": (run_auth_checks, _auth_service("website"), None),
    "a missing artifact route": (run_investigation, lambda r: _mlflow_like(
        r, artifact_route=r.url.path.startswith("/mlflow/")), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_live_probe_findings_carry_the_pointer_the_exchange_and_a_curl(case: str) -> None:
    check, upstream, valid_for = CASES[case]
    probes, _, _ = _probes(upstream)
    probes.facts.valid_for = valid_for
    findings = [f for f in _run(check, probes).findings if not f.known]
    assert findings
    reproduce(findings, Targets(proxy_url=PROXY, auth_url=AUTH, mlflow_url=MLFLOW))
    for finding in findings:
        assert finding.contract is not None and finding.contract.line, finding
        assert finding.exchanges and finding.reproduction, finding
        assert finding.reproduction.split("\n")[-1].startswith("curl "), finding.reproduction
