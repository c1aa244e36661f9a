"""The differential check: the proxy must answer an MLflow operation as MLflow does.

For the same request, sent once through the proxy and once straight to
MLflow, the status and the JSON shape (top-level fields and their types)
must agree. Only reads are compared: repeating a write would change the
state the second answer sees.
"""

from __future__ import annotations

from typing import Any

import requests
from schemathesis import Case, Response

from hokusai_contracts.checks.suites.failures import exchange_of, operation_pointer
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop

__all__ = ["PROXY_OWN_STATUSES", "compare_with_upstream", "json_shape"]

#: Statuses the proxy answers on its own (auth, rate limit, upstream trouble): nothing to compare.
PROXY_OWN_STATUSES = frozenset({401, 403, 429, 502, 503, 504})
#: Comparisons per operation and status the proxy answered: a proxy that passes MLflow's answer
#: through for a status does so for every request of the operation that gets it, and each further
#: comparison asks MLflow the question the mlflow-direct suite asks (issue 17: "not fuzzing MLflow
#: twice"). A status not seen before on the operation is always compared.
COMPARISONS_PER_STATUS = 3


def json_shape(content: bytes) -> dict[str, str] | str:
    try:
        document: Any = __import__("json").loads(content)
    except ValueError:
        return "not JSON"
    if not isinstance(document, dict):
        return type(document).__name__
    return {key: type(value).__name__ for key, value in sorted(document.items())}


def compare_with_upstream(recorder: Recorder, case: Case[Any], proxied: Response, mlflow_url: str) -> None:
    if proxied.status_code in PROXY_OWN_STATUSES:
        return
    if recorder.compared[proxied.status_code] >= COMPARISONS_PER_STATUS:
        return
    recorder.compared[proxied.status_code] += 1
    try:
        direct = case.call(base_url=mlflow_url, timeout=recorder.context.request_timeout_s,
                           session=recorder.session)
    except requests.RequestException:
        return  # MLflow unreachable directly is the direct suite's finding, not a difference
    differences = []
    if proxied.status_code == 404 and direct.status_code != 404:
        # Incident 4: a route MLflow serves that the proxy does not (prefix rewrites, artifact routes).
        recorder.add(Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=f"{case.method.upper()} {case.operation.path}",
            kind=FindingKind.PATH_NOT_FOUND, location="path",
            contract=recorder.contract.ref(operation_pointer(case)),
            expected=f"the route MLflow serves (it answered {direct.status_code} directly)",
            observed=f"404 through the proxy: {proxied.content[:120].decode('utf-8', 'replace')}",
            recommendation="Route this path (under every mount prefix) to MLflow unchanged.",
            suite=recorder.suite, exchanges=[exchange_of(case, proxied), exchange_of(case, direct)],
        ))
        return
    if direct.status_code != proxied.status_code:
        differences.append(("status", str(direct.status_code), str(proxied.status_code)))
    else:
        upstream_shape, proxy_shape = json_shape(direct.content), json_shape(proxied.content)
        if upstream_shape != proxy_shape:
            differences.append(("body", str(upstream_shape)[:200], str(proxy_shape)[:200]))
    for location, expected, observed in differences:
        recorder.add(Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=f"{case.method.upper()} {case.operation.path}",
            kind=FindingKind.DIFFERS_FROM_UPSTREAM, location=location,
            contract=recorder.contract.ref(operation_pointer(case)),
            expected=f"what MLflow answers directly: {expected}", observed=f"through the proxy: {observed}",
            recommendation="The proxy must pass MLflow's answer through unchanged (status, body, media type).",
            suite=recorder.suite, exchanges=[exchange_of(case, proxied), exchange_of(case, direct)],
        ))
