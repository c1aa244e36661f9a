"""``investigate``: a path variant through the proxy against MLflow directly, and the proxy's mounts (respx)."""

from __future__ import annotations

import httpx
import pytest
import respx

from hokusai_contracts.checks.live.investigate import run_investigation
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.contracts.overlay import mlflow_side
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check
from hokusai_contracts.stack.definition import project_root

from .targets import KEY, MLFLOW, PROXY

PATHS = {"api/ read": "/api/2.0/mlflow/experiments/search", "ajax-api/ read": "/ajax-api/2.0/mlflow/experiments/search",
         "artifacts list": "/api/2.0/mlflow-artifacts/artifacts"}
OK = httpx.Response(200, json={})
MISSING = httpx.Response(404, text="Not Found")


def _answer(given: httpx.Response | Exception) -> dict[str, object]:
    return {"side_effect": given} if isinstance(given, Exception) else {"return_value": given}


def _deployment(router: respx.MockRouter, through: dict[str, httpx.Response] | None = None,
                direct: dict[str, httpx.Response | Exception] | None = None,
                mounts: dict[str, httpx.Response] | None = None) -> dict[str, respx.Route]:
    """Every variant 200 through the proxy and directly, and health under the tracking URI's mount only."""
    routes = {}
    for name, path in PATHS.items():
        routes[f"through {name}"] = router.get(PROXY + path).mock(**_answer((through or {}).get(name, OK)))
        routes[f"direct {name}"] = router.get(MLFLOW + path).mock(**_answer((direct or {}).get(name, OK)))
    for prefix in ("/api/mlflow", "/mlflow", "/api/2.0/mlflow"):
        default = OK if prefix == "/api/mlflow" else MISSING
        routes[prefix] = router.get(f"http://proxy.test{prefix}/health/mlflow").mock(
            return_value=(mounts or {}).get(prefix, default))
    return routes


def _checks(probes: LiveProbes) -> dict[str, Check]:
    return {c.name: c for c in probes.take().checks}


def test_a_proxy_passing_every_variant_through_passes(router: respx.MockRouter, probes: LiveProbes) -> None:
    routes = _deployment(router)
    run_investigation(probes)
    checks = _checks(probes)
    assert list(checks) == [*PATHS, "prefixes answering health"]
    assert {c.status for c in checks.values()} == {CheckStatus.PASSED} and not any(c.findings for c in checks.values())
    assert checks["prefixes answering health"].message == "/api/mlflow: 200; /mlflow: 404; /api/2.0/mlflow: 404"
    # The key goes to the tracking URI only: not to MLflow directly, not to the proxy host's other prefixes.
    keyed = {name for name, route in routes.items() for call in route.calls
             if call.request.headers.get("authorization") == f"Bearer {KEY}"}
    assert keyed == {f"through {name}" for name in PATHS}


@pytest.mark.parametrize(("variant", "through", "direct", "key_accepted", "status", "kind"), [
    # The MLflow client calls these: a 404 through the proxy is a route missing, whatever MLflow says.
    ("api/ read", MISSING, OK, True, CheckStatus.FAILED, FindingKind.PATH_NOT_FOUND),
    ("artifacts list", MISSING, MISSING, True, CheckStatus.FAILED, FindingKind.PATH_NOT_FOUND),
    # ajax-api/ is optional: missing is fine where MLflow lacks it too, a difference where it does not.
    ("ajax-api/ read", MISSING, MISSING, True, CheckStatus.PASSED, None),
    ("ajax-api/ read", MISSING, OK, True, CheckStatus.PASSED, FindingKind.DIFFERS_FROM_UPSTREAM),
    ("ajax-api/ read", httpx.Response(400, json={"error_code": "BAD_REQUEST"}), OK, True, CheckStatus.PASSED,
     FindingKind.DIFFERS_FROM_UPSTREAM),
    # The proxy's own statuses are no difference in MLflow's answer; a 5xx still fails the check.
    ("api/ read", httpx.Response(503, text="down"), OK, True, CheckStatus.FAILED, None),
    ("ajax-api/ read", httpx.Response(429, text="slow down"), OK, True, CheckStatus.PASSED, None),
    ("api/ read", httpx.Response(401, text="no"), OK, True, CheckStatus.FAILED, None),
    # A key the proxy refuses is bearer-auth's finding: routing is not judged behind it.
    ("api/ read", httpx.Response(401, text="no"), OK, False, CheckStatus.SKIPPED, None),
    # Not known to be refused (the bearer check had no answer): a 401 here is this check's failure.
    ("api/ read", httpx.Response(401, text="no"), OK, None, CheckStatus.FAILED, None),
    # MLflow not answering directly: nothing to compare with.
    ("ajax-api/ read", MISSING, httpx.ConnectError("refused"), True, CheckStatus.PASSED, None),
    # MLflow refusing the direct read (a gateway wanting a key it did not get): nothing to compare with either.
    ("api/ read", OK, httpx.Response(401, json={"detail": "API key required"}), True, CheckStatus.PASSED, None),
    ("artifacts list", OK, httpx.Response(403, json={"detail": "Admin access required"}), True, CheckStatus.PASSED,
     None),
])
def test_each_variant_is_judged_by_what_the_proxy_and_mlflow_answer(
        router: respx.MockRouter, probes: LiveProbes, variant: str, through: httpx.Response,
        direct: httpx.Response | Exception, key_accepted: bool | None, status: CheckStatus,
        kind: FindingKind | None) -> None:
    _deployment(router, through={variant: through}, direct={variant: direct})
    probes.facts.key_accepted = key_accepted
    run_investigation(probes)
    check = _checks(probes)[variant]
    assert check.status is status
    assert [f.kind for f in check.findings] == ([kind] if kind else [])
    if kind is FindingKind.DIFFERS_FROM_UPSTREAM:
        assert [e.url for e in check.findings[0].exchanges] == [PROXY + PATHS[variant], MLFLOW + PATHS[variant]]
    if status is CheckStatus.SKIPPED:
        assert check.message.endswith("(key refused: routing not judged)")
    if isinstance(direct, httpx.Response) and direct.status_code in (401, 403):
        assert check.message.endswith("(MLflow refused the direct read: not compared)")


def test_without_direct_mlflow_the_proxy_alone_is_asked(router: respx.MockRouter, probes: LiveProbes) -> None:
    routes = _deployment(router, through={"ajax-api/ read": MISSING})
    probes.mlflow_url = ""
    run_investigation(probes)
    checks = _checks(probes)
    assert not any(route.called for name, route in routes.items() if name.startswith("direct"))
    assert "direct" not in checks["api/ read"].message and checks["ajax-api/ read"].findings == []


def test_a_tracking_uri_whose_mount_does_not_answer_fails_even_if_another_prefix_does(
        router: respx.MockRouter, probes: LiveProbes) -> None:
    _deployment(router, mounts={"/api/mlflow": MISSING, "/mlflow": OK})
    run_investigation(probes)
    check = _checks(probes)["prefixes answering health"]
    assert check.status is CheckStatus.FAILED
    assert check.message == ("/api/mlflow: 404; /mlflow: 200; /api/2.0/mlflow: 404 "
                             "(the tracking URI's mount /api/mlflow does not)")


def test_behind_a_gateway_the_key_goes_directly_only_to_operations_its_overlay_secures(
        router: respx.MockRouter, probes: LiveProbes) -> None:
    root = project_root()
    probes.mlflow_contract = mlflow_side(probes.mlflow_contract, "", root / "contracts" / "mlflow-gateway.overlay.yaml",
                                         root)
    routes = _deployment(router, direct={"ajax-api/ read": httpx.Response(401, json={"detail": "API key required"})})
    run_investigation(probes)
    keyed = {name for name, route in routes.items() if name.startswith("direct") for call in route.calls
             if call.request.headers.get("authorization") == f"Bearer {KEY}"}
    # ajax-api/ is no operation of MLflow's contract: the gate would take the key there for a leak.
    assert keyed == {"direct api/ read", "direct artifacts list"}
    assert {c.status for c in _checks(probes).values()} == {CheckStatus.PASSED}
