"""The fake auth service: every operation of contracts/auth-service.yaml, in both profiles.

Unit tests talk to the app in-process through ``httpx.ASGITransport`` (no network); the one
``integration`` test starts ``python -m hokusai_mocks.fake_auth`` as the stack runner does.
Keys are built at runtime: no full-length key literal appears in this file.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
import yaml
from hokusai_mocks.fake_auth.__main__ import main
from hokusai_mocks.fake_auth.app import create_app
from hokusai_mocks.fake_auth.routes_keys import ADMIN_USER_ID
from hokusai_mocks.fake_auth.seed import SeedError, load_seed, write_state_file
from hokusai_mocks.fake_auth.settings import FakeAuthSettings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

REPO = Path(__file__).resolve().parents[2]
CONTRACT_PATH = REPO / "contracts" / "auth-service.yaml"
CONTRACT = yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))
FIXTURE = REPO / "mocks" / "fake_auth" / "keys.yaml"
KEY_RE = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
ADMIN = "test-admin-" + "t" * 8
VALIDATE = "/api/v1/keys/validate"
PRIMARY_ID = "00000000-0000-4000-8000-000000000001"
NO_SUCH_ID = "00000000-0000-4000-8000-0000000000ff"


def runtime_key(char: str, prefix: str = "hk_live_") -> str:
    return prefix + char * 32


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FAKE_AUTH_* out of every test: settings read the environment."""
    for name in list(os.environ):
        if name.startswith("FAKE_AUTH_"):
            monkeypatch.delenv(name)


def conforms(schema_name: str, body: Any) -> None:
    """Assert ``body`` is valid against the contract's component schema ``schema_name``."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": CONTRACT["components"]}
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    validator.validate(body)


class Fake:
    """One in-process fake and a synchronous way to call it."""

    def __init__(self, profile: str = "contract", **overrides: Any) -> None:
        self.app = create_app(FakeAuthSettings(profile=profile, admin_token=ADMIN, **overrides))
        self.state = self.app.state.fake

    def request(self, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> httpx.Response:
        if admin:
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {ADMIN}"}

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://fake-auth") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def key(self, name: str) -> str:
        return next(r.key for r in self.state.store.all() if r.name == name)

    def validate(self, **body: Any) -> httpx.Response:
        return self.request("POST", VALIDATE, json=body)

    def metrics(self) -> dict[str, Any]:
        response = self.request("GET", "/metrics")
        assert response.status_code == 200
        return dict(response.json())


# --- validate: key states --------------------------------------------------------------------

KEY_STATES = [
    # key (a fixture name, or None for a key nobody issued), service_id asked for, outcome
    ("primary", "platform", "valid"),
    ("primary", None, "valid"),
    ("expired", "platform", "expired"),
    ("revoked", "platform", "revoked"),
    ("website", "platform", "wrong_service"),
    ("primary", "prediction", "wrong_service"),
    ("primary", "ml-platform", "unknown_service"),  # incident 2
    (None, "platform", "unknown_key"),
]


@pytest.mark.parametrize("profile", ["contract", "production"])
@pytest.mark.parametrize(("name", "service_id", "outcome"), KEY_STATES)
def test_validate_answers_each_key_state(profile: str, name: str | None, service_id: str | None, outcome: str) -> None:
    fake = Fake(profile)
    key = fake.key(name) if name else runtime_key("u")
    response = fake.validate(api_key=key, service_id=service_id)
    body = response.json()
    if outcome == "valid":
        assert response.status_code == 200
        conforms("ValidationResult", body)
        assert body["is_valid"] is True
        assert body["key_id"] == PRIMARY_ID and body["service_id"] == "platform"
        assert body["user_id"] and body["scopes"] and body["rate_limit_per_hour"]
    elif profile == "contract":
        assert response.status_code == 200
        conforms("ValidationResult", body)
        assert body["is_valid"] is False and body["error"] and body["key_id"] is None
    else:
        assert (response.status_code, body) == (401, {"detail": "Invalid or expired API key"})
    assert fake.metrics()["validate_by_outcome"][outcome] == 1


def test_unknown_service_message_names_the_known_services_and_the_keys_service() -> None:
    fake = Fake()
    error = fake.validate(api_key=fake.key("primary"), service_id="ml-platform").json()["error"]
    assert "'ml-platform'" in error and "website, prediction, platform" in error
    assert "'platform'" in error


# --- validate: bodies without a usable key ---------------------------------------------------

BAD_BODIES = [
    # id, request kwargs ("<primary>" is replaced by the key), contract status, production status
    ("no api_key", {"json": {"service_id": "platform"}}, 422, 401),
    (
        "key in a header only (incident 1)",
        {"json": {"service_id": "platform"}, "headers": {"Authorization": "Bearer <primary>"}},
        422,
        401,
    ),
    ("api_key null", {"json": {"api_key": None, "service_id": "platform"}}, 422, 401),
    ("api_key empty", {"json": {"api_key": "", "service_id": "platform"}}, 200, 401),
    ("api_key a number", {"json": {"api_key": 123}}, 422, 422),
    ("service_id a number", {"json": {"api_key": "<primary>", "service_id": 5}}, 422, 422),
    ("not JSON", {"content": b"{", "headers": {"Content-Type": "application/json"}}, 422, 422),
    ("JSON array", {"json": ["<primary>"]}, 422, 422),
    ("no body", {}, 422, 422),
    ("not UTF-8", {"content": b"\xff", "headers": {"Content-Type": "application/json"}}, 422, 422),
]


def _fill(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return value.replace("<primary>", key)
    if isinstance(value, dict):
        return {k: _fill(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, key) for v in value]
    return value


@pytest.mark.parametrize("profile", ["contract", "production"])
@pytest.mark.parametrize(
    ("request_kwargs", "contract_status", "production_status"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD_BODIES],
)
def test_validate_without_a_usable_key(
    profile: str, request_kwargs: dict[str, Any], contract_status: int, production_status: int
) -> None:
    fake = Fake(profile)
    response = fake.request("POST", VALIDATE, **_fill(request_kwargs, fake.key("primary")))
    expected = contract_status if profile == "contract" else production_status
    assert response.status_code == expected
    if expected == 422:
        conforms("HTTPValidationError", response.json())
    if expected == 401:
        assert response.json() == {"detail": "API key required"}
    if expected == 200:
        assert response.json()["is_valid"] is False
    outcome = "malformed" if expected in (400, 422) else "missing_key"
    assert fake.metrics()["validate_by_outcome"][outcome] == 1


def test_missing_api_key_is_fastapis_exact_422() -> None:
    response = Fake().validate(service_id="platform")
    assert response.json() == {
        "detail": [
            {
                "type": "missing",
                "loc": ["body", "api_key"],
                "msg": "Field required",
                "input": {"service_id": "platform"},
            }
        ]
    }


# --- validate: rate limit, IP allow-list, scopes ---------------------------------------------


@pytest.mark.parametrize(("profile", "status"), [("contract", 200), ("production", 429)])
def test_rate_limit_per_hour(profile: str, status: int) -> None:
    fake = Fake(profile)
    key = fake.key("limited")  # 10 validations per hour
    for _ in range(10):
        assert fake.validate(api_key=key, service_id="platform").json()["is_valid"] is True
    response = fake.validate(api_key=key, service_id="platform")
    assert response.status_code == status
    if profile == "contract":
        assert response.json()["is_valid"] is False
        assert "Rate limit" in response.json()["error"]
    else:
        assert response.json() == {"detail": "Rate limit exceeded"}
        assert int(response.headers["Retry-After"]) > 0
    assert fake.metrics()["validate_by_outcome"]["rate_limited"] == 1


@pytest.mark.parametrize(
    ("client_ip", "required_scope", "valid"),
    [
        ("10.1.2.3", None, True),
        ("10.1.2.3", "read", True),
        ("10.1.2.3", "write", False),
        ("192.168.0.1", None, False),
        ("not an ip", None, False),
        (None, None, False),  # the caller itself (127.0.0.1) is not in 10.0.0.0/8
    ],
)
def test_ip_allow_list_and_scopes(client_ip: str | None, required_scope: str | None, valid: bool) -> None:
    fake = Fake()
    created = fake.request(
        "POST",
        "/api/v1/keys",
        admin=True,
        json={
            "name": "ip",
            "service_id": "platform",
            "scopes": ["read"],
            "allowed_ips": ["10.0.0.0/8"],
        },
    ).json()
    body = {"api_key": created["api_key"], "client_ip": client_ip, "required_scope": required_scope}
    assert fake.request("POST", VALIDATE, json=body).json()["is_valid"] is valid


# --- administration --------------------------------------------------------------------------

ADMIN_OPERATIONS = [
    ("GET", "/api/v1/keys", None),
    ("POST", "/api/v1/keys", {"name": "x", "service_id": "platform"}),
    ("GET", f"/api/v1/keys/{PRIMARY_ID}", None),
    ("DELETE", f"/api/v1/keys/{PRIMARY_ID}", None),
    ("POST", f"/api/v1/keys/{PRIMARY_ID}/rotate", None),
    ("GET", f"/api/v1/usage/{PRIMARY_ID}/stats", None),
    ("GET", f"/api/v1/usage/{PRIMARY_ID}/billing", None),
    ("GET", "/api/v1/usage/aggregate", None),
    ("GET", "/__fault__", None),
]
AUTH_CASES = [
    # profile, Authorization header, status
    ("contract", None, 401),
    ("contract", "Bearer wrong-token", 401),
    ("contract", "Basic YWRtaW46YWRtaW4=", 401),
    ("production", None, 401),
    ("production", "Bearer wrong-token", 401),
    ("production", "Basic YWRtaW46YWRtaW4=", 401),
]


@pytest.mark.parametrize(("profile", "authorization", "status"), AUTH_CASES)
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_OPERATIONS)
def test_administration_needs_the_admin_token(
    profile: str, authorization: str | None, status: int, method: str, path: str, body: Any
) -> None:
    fake = Fake(profile)
    headers = {"Authorization": authorization} if authorization else {}
    response = fake.request(method, path, json=body, headers=headers)
    assert response.status_code == status
    if profile == "contract":
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert fake.validate(api_key=fake.key("primary")).json()["is_valid"] is True  # nothing changed
    assert fake.request(method, path, json=body, admin=True).status_code == 200


def test_create_list_get_rotate_revoke() -> None:
    fake = Fake()
    created = fake.request(
        "POST",
        "/api/v1/keys",
        admin=True,
        json={
            "name": "ci",
            "service_id": "prediction",
            "scopes": ["read"],
            "environment": "test",
            "expires_in_days": 30,
            "rate_limit_per_hour": 50,
        },
    ).json()
    conforms("APIKeyResponse", created)
    key, info = created["api_key"], created["key_info"]
    assert KEY_RE.fullmatch(key) and key.startswith("hk_test_")
    assert info["is_active"] and info["expires_at"] and info["user_id"] == ADMIN_USER_ID
    assert info["key_prefix"] == key[:10]
    assert fake.validate(api_key=key, service_id="prediction").json()["is_valid"] is True

    listed = fake.request("GET", "/api/v1/keys", admin=True, params={"service_id": "prediction"})
    assert [k["key_id"] for k in listed.json()] == [info["key_id"]]
    active = fake.request("GET", "/api/v1/keys", admin=True, params={"active_only": "true"}).json()
    for item in active:
        conforms("APIKeyInfo", item)
    assert {"expired", "revoked"}.isdisjoint(k["name"] for k in active)
    fetched = fake.request("GET", f"/api/v1/keys/{info['key_id']}", admin=True).json()
    assert fetched["key_id"] == info["key_id"] and fetched["last_used_at"]

    rotated = fake.request("POST", f"/api/v1/keys/{info['key_id']}/rotate", admin=True).json()
    conforms("APIKeyResponse", rotated)
    assert rotated["api_key"] != key and rotated["key_info"]["key_id"] != info["key_id"]
    assert rotated["key_info"]["rate_limit_per_hour"] == 50
    assert fake.validate(api_key=key).json()["error"] == "API key has been revoked"
    assert fake.validate(api_key=rotated["api_key"]).json()["is_valid"] is True

    new_id = rotated["key_info"]["key_id"]
    for _ in range(2):  # revoking twice is fine
        revoked = fake.request("DELETE", f"/api/v1/keys/{new_id}", admin=True)
        assert revoked.status_code == 200 and revoked.json()["key_id"] == new_id
    assert fake.validate(api_key=rotated["api_key"]).json()["is_valid"] is False
    got = fake.request("GET", f"/api/v1/keys/{new_id}", admin=True).json()
    assert got["is_active"] is False


UNKNOWN_KEY_ID_OPERATIONS = [
    ("GET", f"/api/v1/keys/{NO_SUCH_ID}", None),
    ("DELETE", f"/api/v1/keys/{NO_SUCH_ID}", None),
    ("POST", f"/api/v1/keys/{NO_SUCH_ID}/rotate", None),
    ("GET", f"/api/v1/usage/{NO_SUCH_ID}/stats", None),
    ("GET", f"/api/v1/usage/{NO_SUCH_ID}/billing", None),
    (
        "POST",
        f"/api/v1/usage/{NO_SUCH_ID}",
        {"service_id": "platform", "endpoint": "/x", "status_code": 200, "response_time_ms": 1},
    ),
]


@pytest.mark.parametrize("profile", ["contract", "production"])
@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN_KEY_ID_OPERATIONS)
def test_unknown_key_id(profile: str, method: str, path: str, body: Any) -> None:
    response = Fake(profile).request(method, path, json=body, admin=True)
    assert response.status_code == 422
    conforms("HTTPValidationError", response.json())
    assert response.json()["detail"][0]["loc"] == ["path", "key_id"]


@pytest.mark.parametrize(("profile", "status"), [("contract", 422), ("production", 422)])
def test_rotating_a_revoked_key_is_refused(profile: str, status: int) -> None:
    revoked_id = "00000000-0000-4000-8000-000000000003"
    response = Fake(profile).request("POST", f"/api/v1/keys/{revoked_id}/rotate", admin=True)
    assert response.status_code == status


def test_key_id_must_be_a_uuid() -> None:
    response = Fake().request("GET", "/api/v1/keys/not-a-uuid", admin=True)
    assert response.status_code == 422
    conforms("HTTPValidationError", response.json())


# --- usage -----------------------------------------------------------------------------------


def _usage(status_code: int = 200, **extra: Any) -> dict[str, Any]:
    return {
        "service_id": "platform",
        "endpoint": "/api/2.0/mlflow/runs/create",
        "status_code": status_code,
        "response_time_ms": 30,
        **extra,
    }


def test_usage_stats_billing_aggregate_and_metrics() -> None:
    fake = Fake()
    created = fake.request(
        "POST",
        "/api/v1/keys",
        admin=True,
        json={"name": "billing", "service_id": "platform", "monthly_prediction_limit": 10},
    ).json()
    key_id = created["key_info"]["key_id"]
    for record in (_usage(predictions_count=9), _usage(500, predictions_count=6), _usage()):
        # No Authorization: the contract declares no security on recording usage.
        assert fake.request("POST", f"/api/v1/usage/{key_id}", json=record).status_code == 200
    fake.request("POST", f"/api/v1/usage/{PRIMARY_ID}", json={**_usage(), "service_id": "ml-platform"})

    stats = fake.request("GET", f"/api/v1/usage/{key_id}/stats", admin=True).json()
    conforms("UsageStats", stats)
    assert (stats["total_requests"], stats["total_predictions"]) == (3, 15)
    assert stats["error_rate"] == pytest.approx(1 / 3)
    assert stats["average_response_time_ms"] == 30
    assert stats["top_endpoints"] == [{"endpoint": "/api/2.0/mlflow/runs/create", "count": 3}]
    other = fake.request("GET", f"/api/v1/usage/{key_id}/stats", admin=True, params={"period": "2001-01"})
    assert other.json()["total_requests"] == 0
    bad = fake.request("GET", f"/api/v1/usage/{key_id}/stats", admin=True, params={"period": "2001-1"})
    assert bad.status_code == 422

    billing = fake.request("GET", f"/api/v1/usage/{key_id}/billing", admin=True).json()
    conforms("BillingInfo", billing)
    assert billing["monthly_limit"] == 10 and billing["overage_charges"] == pytest.approx(0.005)
    assert billing["current_usage"] == {"requests": 3, "predictions": 15, "compute_ms": 0}

    everything = fake.request("GET", "/api/v1/usage/aggregate", admin=True).json()
    assert everything["total_requests"] == 4
    assert everything["by_service"] == {"platform": 3, "ml-platform": 1}
    only = fake.request(
        "GET",
        "/api/v1/usage/aggregate",
        admin=True,
        params={"service_id": "ml-platform", "start_date": "2000-01-01T00:00:00"},
    )
    assert only.json()["total_requests"] == 1

    metrics = fake.metrics()
    assert metrics["usage_records"] == 4
    assert metrics["usage_by_service"] == {"platform": 3, "ml-platform": 1}


def test_absurd_usage_numbers_still_give_finite_json() -> None:
    fake = Fake()
    huge = _usage(response_time_ms=10**400, predictions_count=10**400)
    assert fake.request("POST", f"/api/v1/usage/{PRIMARY_ID}", json=huge).status_code == 200
    stats = fake.request("GET", f"/api/v1/usage/{PRIMARY_ID}/stats", admin=True)
    assert stats.status_code == 200
    assert stats.json()["average_response_time_ms"] == sys.float_info.max


# --- health and metrics ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/ready", "/", "/auth/health", "/auth/ready", "/metrics"])
def test_health_endpoints_answer_json_objects(path: str) -> None:
    response = Fake().request("GET", path)
    assert response.status_code == 200
    assert isinstance(response.json(), dict)


def test_metrics_count_validate_calls_per_outcome() -> None:
    fake = Fake("production")
    fake.validate(api_key=fake.key("primary"), service_id="platform")
    fake.validate(api_key=fake.key("primary"), service_id="platform")
    fake.validate(api_key=fake.key("expired"), service_id="platform")
    fake.validate(service_id="platform")
    fake.request("POST", VALIDATE, json={"api_key": 1})
    metrics = fake.metrics()
    assert metrics["validate_calls"] == 5
    counted = {k: v for k, v in metrics["validate_by_outcome"].items() if v}
    assert counted == {"valid": 2, "expired": 1, "missing_key": 1, "malformed": 1}
    assert set(metrics) == {
        "validate_calls",
        "validate_by_outcome",
        "usage_records",
        "usage_by_service",
    }


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/health"), ("POST", VALIDATE), ("GET", "/api/v1/keys")])
def test_down_answers_the_load_balancers_503_page(method: str, path: str) -> None:
    fake = Fake(fault="down")
    response = fake.request(method, path, json={"api_key": fake.key("primary")}, admin=True)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["server"] == "awselb/2.0"
    assert "503 Service Temporarily Unavailable" in response.text


def test_error_fault_answers_500_to_validate_only() -> None:
    fake = Fake(fault="error")
    assert fake.validate(api_key=fake.key("primary")).status_code == 500
    assert fake.request("GET", "/health").status_code == 200
    assert fake.metrics()["validate_by_outcome"]["fault_error"] == 1


def test_slow_fault_delays_validate_only() -> None:
    fake = Fake(fault="slow", fault_delay_s=0.3)
    started = time.perf_counter()
    assert fake.validate(api_key=fake.key("primary")).json()["is_valid"] is True
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    fake.request("GET", "/health")
    assert time.perf_counter() - started < 0.3


def test_fault_changes_at_runtime_with_the_admin_token() -> None:
    fake = Fake()
    assert fake.request("POST", "/__fault__", json={"fault": "down"}).status_code == 401
    assert fake.request("POST", "/__fault__", json={"fault": "gone"}, admin=True).status_code == 422
    changed = fake.request("POST", "/__fault__", json={"fault": "down", "delay_s": 1}, admin=True)
    assert changed.json() == {"fault": "down", "delay_s": 1.0}
    assert fake.validate(api_key=fake.key("primary")).status_code == 503
    assert fake.request("GET", "/__fault__", admin=True).json()["fault"] == "down"
    fake.request("POST", "/__fault__", json={"fault": "none"}, admin=True)
    assert fake.request("GET", "/health").status_code == 200
    assert fake.metrics()["validate_by_outcome"]["fault_down"] == 1


# --- settings, seed, state file, logs ----------------------------------------------------------


def test_settings_read_the_environment_and_explicit_values_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = runtime_key("a"), runtime_key("b", "hk_test_")
    monkeypatch.setenv("FAKE_AUTH_PROFILE", "production")
    monkeypatch.setenv("FAKE_AUTH_FAULT", "slow")
    monkeypatch.setenv("FAKE_AUTH_API_KEYS", f"{first}@website, {second}")
    settings = FakeAuthSettings()
    assert (settings.profile, settings.fault) == ("production", "slow")
    assert settings.extra_keys() == [(first, "website"), (second, "platform")]
    assert FakeAuthSettings(profile="contract").profile == "contract"
    monkeypatch.setenv("FAKE_AUTH_API_KEYS", json.dumps([first]))
    assert FakeAuthSettings().extra_keys() == [(first, "platform")]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("hk_live_short", id="too short"),
        pytest.param(runtime_key("c") + "c", id="too long"),
        pytest.param(runtime_key("d") + "@ml-platform", id="unknown service"),
    ],
)
def test_bad_extra_keys_are_refused_without_echoing_them(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValidationError):
        FakeAuthSettings(api_keys=[spec])
    assert main(["--api-key", spec]) == 2
    err = capsys.readouterr().err
    assert spec.split("@")[0] not in err  # the message names the problem, never the key
    assert "hk_live_ or hk_test_" in err or "unknown service" in err


def test_extra_keys_validate_for_their_service() -> None:
    key = runtime_key("e")
    fake = Fake(api_keys=[f"{key}@website"])
    assert fake.validate(api_key=key, service_id="website").json()["is_valid"] is True
    assert fake.validate(api_key=key, service_id="platform").json()["is_valid"] is False


def test_default_fixture_describes_keys_without_secrets() -> None:
    assert not KEY_RE.search(FIXTURE.read_text(encoding="utf-8"))
    entries = {(e.name, e.service_id, e.state) for e in load_seed()}
    assert {
        ("primary", "platform", "active"),
        ("expired", "platform", "expired"),
        ("revoked", "platform", "revoked"),
        ("website", "website", "active"),
    } <= entries
    assert all(e.key is None for e in load_seed())


def test_seed_file_with_literal_keys_and_the_state_file(tmp_path: Path) -> None:
    key = runtime_key("f")
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump({"keys": [{"name": "mine", "service_id": "platform", "key": key}]}))
    fake = Fake(seed_file=seed)
    assert fake.validate(api_key=key, service_id="platform").json()["is_valid"] is True

    state_file = tmp_path / "run" / "state.json"
    write_state_file(state_file, fake.state.store, ADMIN, "http://127.0.0.1:1")
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    document = json.loads(state_file.read_text())
    assert document["admin_token"] == ADMIN and document["base_url"] == "http://127.0.0.1:1"
    assert document["keys"] == [
        {
            "name": "mine",
            "key": key,
            "key_id": document["keys"][0]["key_id"],
            "service_id": "platform",
            "state": "active",
        }
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("keys: [{name: a, service_id: ml-platform}]", "service_id"),
        ("keys: [{name: a, service_id: platform, state: paused}]", "state"),
        ("keys: [{name: a, service_id: platform, colour: red}]", "colour"),
        ("keys: [{name: a, service_id: platform}, {name: a, service_id: website}]", "twice"),
        ("keys: [{name: a, service_id: platform, key: hk_live_short}]", "32 letters"),
        (
            "keys: [{name: a, service_id: platform, expires_at: '2001-01-01T00:00:00Z'}]",
            "state: expired",
        ),
        ("- just a list", "`keys:` list"),
        ("keys: [", "not valid YAML"),
    ],
)
def test_bad_seed_files_say_what_to_fix(tmp_path: Path, text: str, fragment: str) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(text)
    with pytest.raises(SeedError, match=re.escape(fragment)):
        create_app(FakeAuthSettings(seed_file=seed))


def test_logs_never_show_a_whole_key(caplog: pytest.LogCaptureFixture) -> None:
    fake = Fake()
    key = fake.key("primary")
    with caplog.at_level("INFO", logger="hokusai_mocks.fake_auth"):
        fake.validate(api_key=key, service_id="platform")
        fake.validate(api_key=key, service_id="ml-platform")
    assert key not in caplog.text
    assert f"{key[:10]}...{key[-4:]}" in caplog.text


# --- never a 500: Schemathesis against the contract ------------------------------------------


def _fuzz(fake: Fake, mode: GenerationMode, conformance: bool, examples: int) -> None:
    """Hypothesis shrinks a failure to a minimal case; Schemathesis adds a curl to reproduce it."""
    schema = schemathesis.openapi.from_path(CONTRACT_PATH)
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]

    @hypothesis_settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        # The contract's servers entry says /auth; the fake, like production, answers at the root.
        response = case.call(base_url="http://testserver", app=fake.app, headers={"Authorization": f"Bearer {ADMIN}"})
        assert response.status_code < 500, f"{case.operation.label}: {response.text[:300]}"
        assert "fake_auth_internal_error" not in response.text, response.text[:300]
        if conformance:
            case.validate_response(response, checks=checks)

    run()


# slow: 1000 generated requests each, the longest tests of the unit set (tens of seconds each on
# 2 cores): `make test` runs them, `make test-fast` leaves them out.
@pytest.mark.slow
def test_contract_profile_conforms_to_the_contract_for_valid_requests() -> None:
    _fuzz(Fake("contract"), GenerationMode.POSITIVE, conformance=True, examples=1000)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["contract", "production"])
def test_never_answers_500_to_invalid_requests(profile: str) -> None:
    _fuzz(Fake(profile), GenerationMode.NEGATIVE, conformance=False, examples=1000)


# --- the real process -------------------------------------------------------------------------


@pytest.fixture
def fake_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    state_file = tmp_path / "auth-state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hokusai_mocks.fake_auth",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-file",
            str(state_file),
            "--profile",
            "production",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield process, state_file
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdout, process.stderr):  # filterwarnings = error: an open pipe warns
            if pipe is not None:
                pipe.close()


@pytest.mark.integration
def test_process_serves_the_seeded_keys(fake_process: tuple[subprocess.Popen[bytes], Path]) -> None:
    process, state_file = fake_process
    deadline = time.monotonic() + 30
    while not state_file.exists():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the fake wrote no state file within 30 s"
        time.sleep(0.05)
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    state = json.loads(state_file.read_text())
    keys = {k["name"]: k for k in state["keys"]}
    base_url = state["base_url"]

    assert httpx.get(f"{base_url}/health", timeout=5).status_code == 200
    answer = httpx.post(
        f"{base_url}{VALIDATE}",
        json={"api_key": keys["primary"]["key"], "service_id": "platform"},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["key_id"] == keys["primary"]["key_id"]
    refused = httpx.post(f"{base_url}{VALIDATE}", json={"service_id": "platform"}, timeout=5)
    assert refused.status_code == 401  # production profile
    listed = httpx.get(
        f"{base_url}/api/v1/keys",
        timeout=5,
        headers={"Authorization": f"Bearer {state['admin_token']}"},
    )
    assert listed.status_code == 200

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode in (0, -signal.SIGTERM)
    for entry in state["keys"]:
        assert entry["key"] not in err.decode()
