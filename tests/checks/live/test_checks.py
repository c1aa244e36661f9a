"""The live checks' own logic against a fake upstream (httpx.MockTransport behind the real gate).

Each test makes the upstream misbehave the way a broken deployment would and expects the check to
fail with the finding that names it; the integration test covers the same checks against real parts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

import httpx
import pytest

from hokusai_contracts import Evidence, FindingKind, Hop
from hokusai_contracts.checks.live.auth_checks import run_auth_checks
from hokusai_contracts.checks.live.bearer_checks import run_bearer_checks
from hokusai_contracts.checks.live.cleanup import clean_up
from hokusai_contracts.checks.live.investigate import run_investigation
from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.redact import KEY_PATTERN
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.safety.gate import Gate
from hokusai_contracts.safety.policy import OutgoingRequest, SafetyPolicy, Target
from hokusai_contracts.safety.transport import GatedTransport
from hokusai_contracts.stack.definition import project_root

KEY = "hk_live_" + "Live7" * 6 + "xy"
ROOT = project_root()
PROXY, AUTH, MLFLOW = "https://registry.example/api/mlflow", "https://auth.example", "https://registry.example/mlflow"
Handler = Callable[[httpx.Request], httpx.Response]


def _probes(handler: Handler) -> tuple[LiveProbes, SafetyPolicy, list[httpx.Request]]:
    contracts = {name: Contract.load(ROOT / "contracts" / name, root=ROOT)
                 for name in ("auth-service.yaml", "mlflow.yaml", "mlflow-proxy.yaml")}
    policy = SafetyPolicy(KEY, contracts["auth-service.yaml"], contracts["mlflow.yaml"])
    gate = Gate(policy, {Target.PROXY: PROXY, Target.AUTH: AUTH, Target.MLFLOW: MLFLOW,
                         Target.ORIGIN: "https://registry.example"}, rate_limit=1000.0, budget=1000)
    sent: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    client = httpx.Client(transport=GatedTransport(gate, inner=httpx.MockTransport(recording)))
    probes = LiveProbes(client=client, proxy_url=PROXY, auth_url=AUTH, mlflow_url=MLFLOW, api_key=KEY,
                        auth_contract=contracts["auth-service.yaml"], proxy_contract=contracts["mlflow-proxy.yaml"],
                        mlflow_contract=contracts["mlflow.yaml"], out=lambda line: None)
    return probes, policy, sent


def _run(check: Callable[[LiveProbes], None], probes: LiveProbes) -> Report:
    """Run live checks and fold what they made, as the live run does (known deviations applied)."""
    check(probes)
    fold = Fold(Report(tool_version="t", mode="live"),
                KnownDeviations.load(ROOT / "contracts" / "known-deviations.yaml", root=ROOT))
    fold.add(probes.take())
    return fold.report


def _bearer(request: httpx.Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None


def _mlflow_like(request: httpx.Request, *, check_key: bool = True, artifact_route: bool = True) -> httpx.Response:
    """A proxy (or MLflow) that answers reads; with ``check_key`` it wants the Bearer key."""
    if check_key and request.url.host == "registry.example" and request.url.path.startswith("/api/mlflow/") \
            and _bearer(request) != KEY:
        return httpx.Response(401, json={"error_code": "UNAUTHENTICATED", "message": "no"},
                              headers={"WWW-Authenticate": 'Bearer realm="hokusai"'})
    if request.url.path.endswith("/mlflow-artifacts/artifacts") and not artifact_route:
        return httpx.Response(404, text="Not Found")
    if request.url.path.endswith("/health/mlflow"):
        return httpx.Response(200, json={"status": "healthy"})
    if request.url.path.endswith("/mlflow-artifacts/artifacts"):
        return httpx.Response(200, json={})
    return httpx.Response(200, json={"experiments": []})


def _checks(report: Report, suite: str) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in report.checks if c.suite == suite}


def _kinds(report: Report) -> set[tuple[str, FindingKind]]:
    return {(f.hop.value, f.kind) for f in report.findings if not f.known}


def test_bearer_checks_pass_a_proxy_that_takes_only_the_bearer_key() -> None:
    probes, _, _ = _probes(_mlflow_like)
    report = _run(run_bearer_checks, probes)
    assert set(_checks(report, "bearer-auth").values()) == {CheckStatus.PASSED}
    assert probes.facts.key_accepted is True


def test_bearer_checks_fail_a_proxy_that_ignores_the_key() -> None:
    probes, _, _ = _probes(lambda request: _mlflow_like(request, check_key=False))
    report = _run(run_bearer_checks, probes)
    checks = _checks(report, "bearer-auth")
    assert {name for name, status in checks.items() if status is CheckStatus.FAILED} == {
        "missing key", "malformed key", "unknown key", "key in a query parameter"}
    assert ("client->proxy", FindingKind.IGNORED_AUTH) in _kinds(report)
    assert any(f.location == "query.api_key" and f.kind is FindingKind.IGNORED_AUTH for f in report.findings)


def test_bearer_checks_never_put_the_key_in_a_url() -> None:
    # The proxy that ignores keys lets anything in: the one place a check would be tempted to use the key.
    probes, _, sent = _probes(lambda request: _mlflow_like(request, check_key=False))
    report = _run(run_bearer_checks, probes)
    urls = [str(r.url) for r in sent]
    assert [u for u in urls if KEY in unquote(u)] == []
    (query_key,) = [r.url.params["api_key"] for r in sent if "api_key" in r.url.params]
    # The question is still asked, with a decoy of the key's format.
    assert KEY_PATTERN.fullmatch(query_key) and query_key != KEY
    assert KEY not in report.model_dump_json()


def test_a_proxy_refusing_a_key_the_auth_service_accepts_is_evidence_for_service_config() -> None:
    probes, _, _ = _probes(lambda request: httpx.Response(401, json={"error_code": "UNAUTHENTICATED", "message": "x"},
                                                          headers={"WWW-Authenticate": "Bearer"}))
    probes.facts.valid_for = ["platform"]
    report = _run(run_bearer_checks, probes)
    (rejected,) = [f for f in report.findings if f.kind is FindingKind.AUTH_REJECTED]
    assert rejected.hop is Hop.CLIENT_TO_PROXY and rejected.contract is not None
    assert rejected.evidence is Evidence.PROXY_REFUSES_VALID_KEY
    assert probes.facts.key_accepted is False


def _auth_service(valid_for: str | None) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if body.get("api_key") != KEY:
            return httpx.Response(401, json={"detail": "API key required"})
        if body.get("service_id") != valid_for:
            return httpx.Response(401, json={"detail": "Invalid or expired API key"})
        return httpx.Response(200, json={"is_valid": True, "key_id": "k", "user_id": "u", "service_id": valid_for})
    return answer


@pytest.mark.parametrize(("valid_for", "refused", "words"), [
    ("platform", False, None),
    ("website", True, "valid for website"),
    (None, True, "valid for none"),
])
def test_auth_checks_learn_which_service_the_key_belongs_to(valid_for: str | None, refused: bool,
                                                            words: str | None) -> None:
    probes, _, _ = _probes(_auth_service(valid_for))
    report = _run(run_auth_checks, probes)
    assert probes.facts.valid_for == ([valid_for] if valid_for else [])
    findings = [f for f in report.findings if f.kind is FindingKind.AUTH_REJECTED]
    assert bool(findings) is refused
    if words:
        assert words in findings[0].observed and findings[0].hop is Hop.CLIENT_TO_AUTH
        assert findings[0].evidence is Evidence.KEY_REFUSED_BY_AUTH


def test_an_auth_service_taking_the_key_from_a_header_fails_the_body_check() -> None:
    def header_too(request: httpx.Request) -> httpx.Response:
        if _bearer(request) == KEY or request.headers.get("x-api-key") == KEY:
            return httpx.Response(200, json={"is_valid": True, "key_id": "k", "user_id": "u", "service_id": "platform"})
        return _auth_service("platform")(request)

    probes, _, _ = _probes(header_too)
    checks = _checks(_run(run_auth_checks, probes), "auth-service")
    assert checks["key in Authorization: Bearer header instead of the body"] is CheckStatus.FAILED
    assert checks["key in X-API-Key header instead of the body"] is CheckStatus.FAILED


def test_investigate_names_a_missing_artifact_route() -> None:
    # MLflow serves the artifact route directly; the proxy does not route it (incident 4).
    probes, _, _ = _probes(lambda r: _mlflow_like(r, artifact_route=r.url.path.startswith("/mlflow/")))
    report = _run(run_investigation, probes)
    assert _checks(report, "investigate")["artifacts list"] is CheckStatus.FAILED
    assert ("client->proxy", FindingKind.PATH_NOT_FOUND) in _kinds(report)


def test_investigate_names_a_proxy_rewriting_what_mlflow_answers() -> None:
    def rewriting(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/mlflow/ajax-api/"):
            return httpx.Response(400, json={"error_code": "BAD_REQUEST", "message": "rewritten"})
        return _mlflow_like(request)

    probes, _, _ = _probes(rewriting)
    assert ("client->proxy", FindingKind.DIFFERS_FROM_UPSTREAM) in _kinds(_run(run_investigation, probes))


def test_cleanup_deletes_exactly_what_the_run_created() -> None:
    probes, policy, sent = _probes(lambda request: httpx.Response(200, json={}))
    created = OutgoingRequest(target=Target.PROXY, method="POST", path="/api/2.0/mlflow/experiments/create",
                              body=b'{"name": "contract-probe-1-a"}')
    policy.observe(created, 200, b'{"experiment_id": "12"}')
    model = OutgoingRequest(target=Target.PROXY, method="POST", path="/api/2.0/mlflow/registered-models/create",
                            body=b'{"name": "contract-probe-1-a"}')
    policy.observe(model, 200, b"{}")
    outcome = clean_up(probes, policy.created)
    assert outcome.failed == [] and len(outcome.deleted) == 2
    assert [(r.method, r.url.path, json.loads(r.content)) for r in sent] == [
        ("DELETE", "/api/mlflow/api/2.0/mlflow/registered-models/delete", {"name": "contract-probe-1-a"}),
        ("POST", "/api/mlflow/api/2.0/mlflow/experiments/delete", {"experiment_id": "12"}),
    ]


def test_cleanup_spares_the_watchs_probe_experiment_and_deletes_the_runs_in_it() -> None:
    probes, policy, sent = _probes(lambda request: httpx.Response(200, json={}))
    policy.created.experiment.add("7")  # the watch's, from an earlier round
    policy.observe(OutgoingRequest(target=Target.PROXY, method="POST", path="/api/2.0/mlflow/runs/create",
                                   body=b'{"experiment_id": "7"}'), 200, b'{"run": {"info": {"run_id": "r1"}}}')
    policy.observe(OutgoingRequest(target=Target.PROXY, method="POST", path="/api/2.0/mlflow/registered-models/create",
                                   body=b'{"name": "contract-probe-2-b"}'), 200, b"{}")
    outcome = clean_up(probes, policy.created, spare=frozenset({"7"}))
    assert outcome.failed == []
    assert [(r.method, r.url.path, json.loads(r.content)) for r in sent] == [
        ("POST", "/api/mlflow/api/2.0/mlflow/runs/delete", {"run_id": "r1"}),
        ("DELETE", "/api/mlflow/api/2.0/mlflow/registered-models/delete", {"name": "contract-probe-2-b"}),
    ]
    # And the policy lets a run delete reach only the run's own runs.
    foreign = OutgoingRequest(target=Target.PROXY, method="POST", path="/api/2.0/mlflow/runs/delete",
                              body=b'{"run_id": "somebody-elses"}')
    assert "did not create" in (policy.refusal(foreign) or "")


def test_cleanup_reports_what_it_could_not_delete() -> None:
    probes, policy, _ = _probes(lambda request: httpx.Response(503, json={"error_code": "SERVICE_UNAVAILABLE"}))
    policy.observe(OutgoingRequest(target=Target.PROXY, method="POST", path="/api/2.0/mlflow/experiments/create",
                                   body=b'{"name": "contract-probe-1-a"}'), 200, b'{"experiment_id": "12"}')
    outcome = clean_up(probes, policy.created)
    assert outcome.deleted == [] and outcome.failed[0].startswith("experiment 12: 503")


def test_known_deviations_still_apply_to_live_probes() -> None:
    probes, _, _ = _probes(_auth_service("platform"))
    report = _run(run_auth_checks, probes)
    # The auth service's undocumented 401 is a reviewed deviation: reported as known, not failing.
    undocumented = [f for f in report.findings if f.kind is FindingKind.UNDOCUMENTED_STATUS]
    assert undocumented and all(f.known for f in undocumented)
    assert set(_checks(report, "auth-service").values()) == {CheckStatus.PASSED}
