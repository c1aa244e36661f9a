"""The live safety policy: the key stays on its hosts, auth keys are never administered, writes touch
only what the run created."""

from __future__ import annotations

import json

import pytest

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.safety.policy import OutgoingRequest, SafetyPolicy, Target
from hokusai_contracts.stack.definition import project_root

KEY = "hk_live_" + "Q" * 32
ROOT = project_root()


@pytest.fixture(scope="module")
def contracts() -> tuple[Contract, Contract]:
    return (Contract.load(ROOT / "contracts" / "auth-service.yaml", root=ROOT),
            Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT))


@pytest.fixture
def policy(contracts: tuple[Contract, Contract]) -> SafetyPolicy:
    return SafetyPolicy(KEY, *contracts)


def _request(target: Target, method: str, path: str, body: object = None, **headers: str) -> OutgoingRequest:
    return OutgoingRequest(target=target, method=method, path=path, headers=headers,
                           body=json.dumps(body).encode() if body is not None else b"")


@pytest.mark.parametrize("request_", [
    _request(Target.MLFLOW, "GET", "/api/2.0/mlflow/experiments/search", Authorization=f"Bearer {KEY}"),
    _request(Target.ORIGIN, "GET", "/mlflow/health", **{"X-API-Key": KEY}),
    _request(Target.MLFLOW, "POST", "/api/2.0/mlflow/experiments/search", {"filter": KEY}),
])
def test_the_key_goes_to_proxy_and_auth_only(policy: SafetyPolicy, request_: OutgoingRequest) -> None:
    reason = policy.refusal(request_)
    assert reason is not None and "live runs send it to the proxy, the auth service" in reason


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v1/keys"),
    ("DELETE", "/api/v1/keys/00000000-0000-4000-8000-000000000001"),
    ("POST", "/api/v1/keys/00000000-0000-4000-8000-000000000001/rotate"),
    ("POST", "/api/v1/usage/00000000-0000-4000-8000-000000000001"),
    ("GET", "/api/v1/keys"),
    ("PATCH", "/no/such/path"),
])
def test_auth_service_gets_only_live_safe_operations(policy: SafetyPolicy, method: str, path: str) -> None:
    assert policy.refusal(_request(Target.AUTH, method, path, {"api_key": KEY})) is not None


def test_auth_validate_and_health_pass(policy: SafetyPolicy) -> None:
    assert policy.refusal(_request(Target.AUTH, "POST", "/api/v1/keys/validate",
                                   {"api_key": KEY, "service_id": "platform"})) is None
    assert policy.refusal(_request(Target.AUTH, "GET", "/health")) is None


def test_reads_pass_everywhere_without_the_key(policy: SafetyPolicy) -> None:
    for target in (Target.PROXY, Target.MLFLOW):
        search = _request(target, "POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1})
        assert policy.refusal(search) is None
        assert policy.refusal(_request(target, "GET", "/ajax-api/2.0/mlflow/experiments/search")) is None
    assert policy.refusal(_request(Target.ORIGIN, "GET", "/api/2.0/mlflow/health/mlflow")) is None
    assert policy.refusal(_request(Target.ORIGIN, "POST", "/api/2.0/mlflow/experiments/search")) is not None


def test_creates_need_probe_names(policy: SafetyPolicy) -> None:
    create = "/api/2.0/mlflow/experiments/create"
    assert policy.refusal(_request(Target.PROXY, "POST", create, {"name": "contract-probe-1-abc"})) is None
    assert "contract-probe-" in (policy.refusal(_request(Target.PROXY, "POST", create, {"name": "prod-model"})) or "")
    assert policy.refusal(_request(Target.PROXY, "POST", "/api/2.0/mlflow/registered-models/create",
                                   {"name": "Fraud detector"})) is not None


def test_writes_and_deletes_touch_only_what_the_run_created(policy: SafetyPolicy) -> None:
    create = _request(Target.PROXY, "POST", "/api/2.0/mlflow/experiments/create", {"name": "contract-probe-x"})
    delete_experiment = "/api/2.0/mlflow/experiments/delete"
    delete_model = "/api/2.0/mlflow/registered-models/delete"
    assert policy.refusal(_request(Target.PROXY, "POST", delete_experiment, {"experiment_id": "7"})) is not None
    assert policy.refusal(_request(Target.PROXY, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "7"}))
    policy.observe(create, 200, b'{"experiment_id": "7"}')
    assert policy.refusal(_request(Target.PROXY, "POST", delete_experiment, {"experiment_id": "7"})) is None
    assert policy.refusal(_request(Target.PROXY, "POST", delete_experiment, {"experiment_id": "8"})) is not None
    assert policy.refusal(_request(Target.PROXY, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "7"})) is None
    # A failed create teaches nothing.
    create_model = _request(Target.PROXY, "POST", "/api/2.0/mlflow/registered-models/create",
                            {"name": "contract-probe-m"})
    policy.observe(create_model, 409, b"{}")
    assert policy.refusal(_request(Target.PROXY, "DELETE", delete_model, {"name": "contract-probe-m"})) is not None
    policy.observe(create_model, 200, b"{}")
    assert policy.refusal(_request(Target.PROXY, "DELETE", delete_model, {"name": "contract-probe-m"})) is None
    assert policy.refusal(_request(Target.PROXY, "DELETE", delete_model, {"name": "someone-elses"})) is not None


def test_artifact_uploads_only_into_own_experiments(policy: SafetyPolicy) -> None:
    upload = "/api/2.0/mlflow-artifacts/artifacts/{}/models/m-1/artifacts/MLmodel"
    assert policy.refusal(_request(Target.PROXY, "PUT", upload.format("3"))) is not None
    policy.observe(_request(Target.PROXY, "POST", "/api/2.0/mlflow/experiments/create", {"name": "contract-probe-a"}),
                   200, b'{"experiment_id": "3"}')
    assert policy.refusal(_request(Target.PROXY, "PUT", upload.format("3"))) is None


def test_logged_models_follow_their_creator(policy: SafetyPolicy) -> None:
    policy.observe(_request(Target.PROXY, "POST", "/api/2.0/mlflow/experiments/create", {"name": "contract-probe-a"}),
                   200, b'{"experiment_id": "3"}')
    finalize = _request(Target.PROXY, "PATCH", "/api/2.0/mlflow/logged-models/m-9", {"status": "LOGGED_MODEL_READY"})
    assert policy.refusal(finalize) is not None
    policy.observe(_request(Target.PROXY, "POST", "/api/2.0/mlflow/logged-models", {"experiment_id": "3"}), 200,
                   b'{"model": {"info": {"model_id": "m-9"}}}')
    assert policy.refusal(finalize) is None


def test_unknown_writes_are_not_sent(policy: SafetyPolicy) -> None:
    restore = _request(Target.PROXY, "POST", "/api/2.0/mlflow/experiments/restore", {"experiment_id": "1"})
    reason = policy.refusal(restore)
    assert reason is not None and "not an operation" in reason


OTHER_SECRET = "s3cr3t/value+with=signs"  # an .env secret: URL-special characters, so its encoding differs


@pytest.mark.parametrize(("target", "path", "query"), [
    (Target.PROXY, "/api/2.0/mlflow/experiments/search", f"max_results=1&api_key={KEY}"),
    (Target.AUTH, f"/api/v1/keys/{KEY}", ""),
    (Target.PROXY, "/api/2.0/mlflow/experiments/search", "key=" + "".join(f"%{ord(c):02X}" for c in KEY)),
    (Target.PROXY, "/api/2.0/mlflow/experiments/search", f"key={KEY[:12]}%2525{ord(KEY[12]):02x}{KEY[13:]}"),
    (Target.ORIGIN, "/health", "token=s3cr3t%2Fvalue%2Bwith%3Dsigns"),
    (Target.MLFLOW, "/api/2.0/mlflow/experiments/get", "experiment_id=s3cr3t/value+with%3Dsigns"),
], ids=["query", "path", "percent-encoded", "encoded-twice", "other-secret-encoded", "other-secret-form"])
def test_no_secret_of_the_run_in_a_url(contracts: tuple[Contract, Contract], target: Target, path: str,
                                        query: str) -> None:
    policy = SafetyPolicy(KEY, *contracts, secrets=[OTHER_SECRET])
    reason = policy.refusal(OutgoingRequest(target=target, method="GET", path=path, query=query))
    assert reason is not None and "in its URL" in reason
    assert KEY not in reason and OTHER_SECRET not in reason


def test_a_registered_secret_is_refused_in_a_url_too(policy: SafetyPolicy) -> None:
    from hokusai_contracts.domain.redact import forget_secrets, register_secrets

    admin = "adm_" + "T" * 32
    register_secrets(admin)
    try:
        assert policy.refusal(_request(Target.PROXY, "GET", f"/api/2.0/mlflow/experiments/get?x={admin}")) is not None
        assert policy.refusal(OutgoingRequest(target=Target.PROXY, method="GET", path="/api/2.0/mlflow/x",
                                              query=f"token={admin}")) is not None
    finally:
        forget_secrets()


def test_a_decoy_key_in_a_url_passes(policy: SafetyPolicy) -> None:
    decoy = "hk_live_" + "D" * 32
    assert policy.refusal(OutgoingRequest(target=Target.PROXY, method="GET", path="/api/2.0/mlflow/experiments/search",
                                          query=f"max_results=1&api_key={decoy}")) is None
