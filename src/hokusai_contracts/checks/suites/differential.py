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


def compare_with_upstream(recorder: Recorder, case: Case[Any], proxied: Response, mlflow_url: str,
                          proxy_url: str | None = None, headers: dict[str, str] | None = None) -> None:
    """``proxied`` against MLflow's own answer to ``case``; a difference is asked again before it is reported.

    Other clients may write to MLflow between the two reads (the suites beside this one, the
    scenario): an experiment created in between adds a field to the second answer. A proxy that
    alters answers does so again; a race does not repeat. ``proxy_url`` and ``headers`` are how
    ``case`` went through the proxy (without them a difference is reported as first seen).
    """
    if proxied.status_code in PROXY_OWN_STATUSES:
        return
    if recorder.compared[proxied.status_code] >= COMPARISONS_PER_STATUS:
        return
    recorder.compared[proxied.status_code] += 1
    direct = _direct(recorder, case, mlflow_url)
    if direct is None or not _differences(proxied, direct):
        return
    if proxy_url is not None:
        try:
            again = case.call(base_url=proxy_url, headers=headers, timeout=recorder.context.request_timeout_s,
                              session=recorder.session)
        except requests.RequestException:
            again = None
        direct_again = _direct(recorder, case, mlflow_url) if again is not None else None
        if again is not None and direct_again is not None and not _differences(again, direct_again):
            return  # what MLflow held changed between the reads, not what the proxy passed on
    _report(recorder, case, proxied, direct)


def _direct(recorder: Recorder, case: Case[Any], mlflow_url: str) -> Response | None:
    try:
        return case.call(base_url=mlflow_url, headers=recorder.context.mlflow_headers(),
                         timeout=recorder.context.request_timeout_s, session=recorder.session)
    except requests.RequestException:
        return None  # MLflow unreachable directly is the direct suite's finding, not a difference


def _differences(proxied: Response, direct: Response) -> list[tuple[str, str, str]]:
    """(location, MLflow's, the proxy's) for each way the answers differ; a 404 only through the proxy is "path"."""
    if proxied.status_code == 404 and direct.status_code != 404:
        return [("path", str(direct.status_code), "404")]
    if direct.status_code != proxied.status_code:
        return [("status", str(direct.status_code), str(proxied.status_code))]
    upstream_shape, proxy_shape = json_shape(direct.content), json_shape(proxied.content)
    if upstream_shape != proxy_shape:
        return [("body", str(upstream_shape)[:200], str(proxy_shape)[:200])]
    return []


def _report(recorder: Recorder, case: Case[Any], proxied: Response, direct: Response) -> None:
    operation, pointer = f"{case.method.upper()} {case.operation.path}", recorder.contract.ref(operation_pointer(case))
    exchanges = [exchange_of(case, proxied), exchange_of(case, direct)]
    for location, expected, observed in _differences(proxied, direct):
        if location == "path":
            # Incident 4: a route MLflow serves that the proxy does not (prefix rewrites, artifact routes).
            recorder.add(Finding(
                hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.PATH_NOT_FOUND, location="path",
                contract=pointer, expected=f"the route MLflow serves (it answered {expected} directly)",
                observed=f"404 through the proxy: {proxied.content[:120].decode('utf-8', 'replace')}",
                recommendation="Route this path (under every mount prefix) to MLflow unchanged.",
                suite=recorder.suite, exchanges=exchanges,
            ))
            continue
        recorder.add(Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.DIFFERS_FROM_UPSTREAM, location=location,
            contract=pointer, expected=f"what MLflow answers directly: {expected}",
            observed=f"through the proxy: {observed}",
            recommendation="The proxy must pass MLflow's answer through unchanged (status, body, media type).",
            suite=recorder.suite, exchanges=exchanges,
        ))
