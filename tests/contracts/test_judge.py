"""Judging recorded requests and responses against the receiving side's contract."""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts import Finding, FindingKind, Hop
from hokusai_contracts.contracts.judge import (
    KnownValues,
    judge_request,
    judge_response,
    known_values_from_contract,
)
from hokusai_contracts.contracts.loading import Contract

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path("/work/shared/reference/auth-service-openapi.v1.0.0.json")
AUTH_CONTRACTS = [p for p in (ROOT / "contracts" / "auth-service.yaml", REFERENCE) if p.exists()]

# Made-up keys, built in code so no file holds a whole key.
KEY = "hk_live_" + "Q7" * 15 + "zW"
TEST_KEY = "hk_test_" + "m" * 28 + "K3y9"
KEY_ID = str(uuid.UUID(int=7))
JSON = {"Content-Type": "application/json"}
VALIDATE = "/api/v1/keys/validate"


@pytest.fixture(params=AUTH_CONTRACTS, ids=lambda p: p.name)
def auth(request: pytest.FixtureRequest) -> Contract:
    return Contract.load(request.param, root=ROOT)


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def kinds(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind.value, f.location) for f in findings]


def assert_no_whole_key(findings: list[Finding]) -> None:
    text = json.dumps([f.model_dump(mode="json") for f in findings])
    assert KEY not in text and TEST_KEY not in text


def source_line(contract: Contract, schema: str, key: str) -> int:
    """The line of ``key`` inside components schema ``schema``, found without the loader."""
    lines = contract.path.read_text(encoding="utf-8").splitlines()
    heading = re.compile(rf'\s*"?{schema}"?\s*:\s*\{{?\s*')
    start = next(i for i, text in enumerate(lines) if heading.fullmatch(text))
    rule = re.compile(rf'\s*"?{key}"?\s*:')
    return next(i for i in range(start, len(lines)) if rule.match(lines[i])) + 1


# -- the incidents ------------------------------------------------------------------------


def test_incident_1_key_moved_from_body_to_header(auth: Contract) -> None:
    findings = judge_request(
        auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE,
        headers={"Authorization": f"Bearer {KEY}", **JSON}, body=body({"service_id": "platform"}))
    assert kinds(findings) == [("missing_required_field", "body.api_key"),
                               ("undeclared_credential", "header.Authorization")]
    missing, credential = findings
    assert missing.contract is not None
    assert missing.contract.pointer == "/components/schemas/APIKeyValidation/required"
    assert missing.contract.line == source_line(auth, "APIKeyValidation", "required")
    assert missing.contract.file == auth.display_path
    assert missing.operation == "POST /api/v1/keys/validate" and missing.hop is Hop.PROXY_TO_AUTH
    assert missing.recommendation.startswith(
        "The proxy must send api_key in the JSON body of POST /api/v1/keys/validate")
    assert credential.observed == f"Authorization: Bearer {KEY[:10]}...{KEY[-4:]}"
    assert "body.api_key" in credential.recommendation
    assert_no_whole_key(findings)


@pytest.mark.parametrize(("path", "payload"), [
    (VALIDATE, {"api_key": KEY, "service_id": "ml-platform"}),
    (f"/api/v1/usage/{KEY_ID}", {"service_id": "ml-platform", "endpoint": "/api/2.0/mlflow/x",
                                 "status_code": 200, "response_time_ms": 12}),
], ids=["validate", "usage"])
def test_incident_2_unknown_service_id(auth: Contract, path: str, payload: dict[str, Any]) -> None:
    findings = judge_request(auth, Hop.PROXY_TO_AUTH, "POST", path, headers=JSON,
                             body=body(payload))
    assert kinds(findings) == [("unknown_value", "body.service_id")]
    (finding,) = findings
    assert finding.expected == "one of website, prediction, platform"
    assert finding.observed == '"ml-platform"'
    assert finding.contract is not None and finding.contract.line
    assert finding.contract.pointer.endswith(("/service_id/pattern", "/service_id/x-known-values"))
    assert "'ml-platform' is not a value the auth service knows" in finding.recommendation


@pytest.mark.parametrize(("method", "path", "query", "headers", "payload"), [
    ("POST", VALIDATE, [], JSON, {"api_key": KEY, "service_id": "platform"}),
    ("POST", "/auth" + VALIDATE, [], JSON, {"api_key": KEY, "service_id": None}),
    ("POST", VALIDATE, [], {"content-type": "application/json; charset=utf-8"}, {"api_key": KEY}),
    ("POST", f"/api/v1/usage/{KEY_ID}", [], JSON,
     {"service_id": "platform", "endpoint": "/api/2.0/mlflow/runs/create", "status_code": 200,
      "response_time_ms": 31, "predictions_count": 0}),
    ("GET", "/api/v1/keys", [("service_id", "platform"), ("active_only", "true")],
     {"Authorization": "Bearer admin-token"}, None),
    ("GET", f"/api/v1/usage/{KEY_ID}/stats", [("period", "2024-01")],
     {"authorization": "Bearer admin-token"}, None),
    ("GET", "/health", [], {}, None),
], ids=["validate", "prefixed", "charset", "usage", "list-keys", "stats", "health"])
def test_correct_requests_have_no_findings(auth: Contract, method: str, path: str,
                                           query: list[tuple[str, str]], headers: dict[str, str],
                                           payload: Any) -> None:
    sent = None if payload is None else body(payload)
    assert judge_request(auth, Hop.PROXY_TO_AUTH, method, path, query=query, headers=headers,
                         body=sent) == []


# -- request findings, table-style --------------------------------------------------------

REQUEST_CASES: list[tuple[str, str, str, list[tuple[str, str]], dict[str, str], bytes | None,
                          list[tuple[str, str]]]] = [
    ("unknown-path", "GET", "/api/v1/keyz", [], {}, None, [("unknown_operation", "path")]),
    ("wrong-method", "PUT", VALIDATE, [], JSON, b"{}", [("unknown_operation", "method")]),
    ("no-body", "POST", VALIDATE, [], JSON, None, [("missing_required_field", "body")]),
    ("text-body", "POST", VALIDATE, [], {"Content-Type": "text/plain"}, b"api_key=x",
     [("content_type", "header.Content-Type")]),
    ("no-content-type", "POST", VALIDATE, [], {}, body({"api_key": "x"}),
     [("content_type", "header.Content-Type")]),
    ("not-json", "POST", VALIDATE, [], JSON, b"{api_key", [("request_schema", "body")]),
    ("wrong-type", "POST", VALIDATE, [], JSON, body({"api_key": 5}),
     [("request_schema", "body.api_key")]),
    ("null-branch", "POST", VALIDATE, [], JSON, body({"api_key": "x", "client_ip": 1}),
     [("request_schema", "body.client_ip")]),
    ("usage-strings", "POST", f"/api/v1/usage/{KEY_ID}", [], JSON,
     body({"service_id": "platform", "endpoint": "/x", "status_code": "200"}),
     [("request_schema", "body.status_code"), ("missing_required_field", "body.response_time_ms")]),
    ("bad-uuid", "POST", "/api/v1/usage/key-1", [], JSON,
     body({"service_id": "platform", "endpoint": "/x", "status_code": 200, "response_time_ms": 1}),
     [("request_schema", "path.key_id")]),
    ("bad-query", "GET", f"/api/v1/usage/{KEY_ID}/stats", [("period", "2024-1")],
     {"Authorization": "Bearer t"}, None, [("request_schema", "query.period")]),
    ("query-known-value", "GET", "/api/v1/keys", [("service_id", "ml-platform")],
     {"Authorization": "Bearer t"}, None, [("unknown_value", "query.service_id")]),
    ("own-pattern", "POST", "/api/v1/keys", [], {"Authorization": "Bearer t", **JSON},
     body({"name": "n", "service_id": "ml-platform"}), [("request_schema", "body.service_id")]),
    ("x-api-key", "GET", "/api/v1/keys", [], {"X-API-Key": "anything"}, None,
     [("undeclared_credential", "header.X-API-Key"), ("missing_credential", "header.Authorization")]),
    ("key-in-query", "POST", VALIDATE, [("api_key", KEY)], JSON, body({"api_key": KEY}),
     [("undeclared_credential", "query.api_key")]),
    ("key-in-odd-header", "GET", "/health", [], {"x-caller": TEST_KEY}, None,
     [("undeclared_credential", "header.X-Caller")]),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "sent", "expected"),
                         [case[1:] for case in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES])
def test_request_findings(auth: Contract, method: str, path: str, query: list[tuple[str, str]],
                          headers: dict[str, str], sent: bytes | None,
                          expected: list[tuple[str, str]]) -> None:
    findings = judge_request(auth, Hop.PROXY_TO_AUTH, method, path, query=query, headers=headers,
                             body=sent)
    assert sorted(kinds(findings)) == sorted(expected)
    for finding in findings:
        assert finding.recommendation.startswith("The proxy ")
        assert finding.contract is not None and finding.contract.file == auth.display_path
    assert_no_whole_key(findings)


def test_unknown_operation_names_the_closest_path(auth: Contract) -> None:
    (finding,) = judge_request(auth, Hop.PROXY_TO_AUTH, "POST", "/api/v1/key/validate",
                               headers=JSON, body=b"{}")
    assert finding.kind is FindingKind.UNKNOWN_OPERATION
    assert finding.operation == "POST /api/v1/key/validate"
    assert "did it mean /api/v1/keys/validate?" in finding.recommendation


def test_known_values_can_be_given_or_turned_off(auth: Contract) -> None:
    sent = body({"api_key": KEY, "service_id": "ml-platform"})
    # {} turns off the contract-wide sets; a property's own x-known-values still applies.
    own = "x-known-values" in auth.node(
        "/components/schemas/APIKeyValidation/properties/service_id")
    findings = judge_request(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE, headers=JSON, body=sent,
                             known_values={})
    assert kinds(findings) == ([("unknown_value", "body.service_id")] if own else [])
    custom = {"client_ip": KnownValues(("127.0.0.1",), "/components/schemas/APIKeyValidation")}
    findings = judge_request(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE, headers=JSON,
                             body=body({"api_key": KEY, "client_ip": "10.0.0.1"}),
                             known_values=custom)
    assert kinds(findings) == [("unknown_value", "body.client_ip")]


def test_known_values_from_contract(auth: Contract) -> None:
    known = known_values_from_contract(auth)
    assert known["service_id"].values == ("website", "prediction", "platform")
    assert known["environment"].values == ("production", "test", "development")
    assert "period" not in known  # ^\d{4}-\d{2}$ is a shape, not a closed set
    assert "ml-platform" not in known["service_id"] and "platform" in known["service_id"]


# -- responses ------------------------------------------------------------------------------

VALID_RESULT = {"is_valid": True, "key_id": KEY_ID, "user_id": "u1", "service_id": "platform",
                "scopes": ["model:write"], "rate_limit_per_hour": 1000}

RESPONSE_CASES: list[tuple[str, int, dict[str, str], bytes | None, list[tuple[str, str]]]] = [
    ("ok", 200, JSON, body(VALID_RESULT), []),
    ("422", 422, JSON, body({"detail": [{"loc": ["body", "api_key"], "msg": "Field required",
                                         "type": "missing"}]}), []),
    ("undocumented-401", 401, JSON, body({"detail": "Invalid or expired API key"}),
     [("undocumented_status", "status")]),
    ("503", 503, {"Content-Type": "text/html"}, b"<html>Service Unavailable</html>",
     [("server_error", "status"), ("undocumented_status", "status")]),
    ("missing-is-valid", 200, JSON, body({"key_id": KEY_ID}),
     [("response_schema", "body.is_valid")]),
    ("wrong-item", 200, JSON, body({"is_valid": True, "scopes": [1]}),
     [("response_schema", "body.scopes[0]")]),
    ("not-json", 200, JSON, b"<html>", [("response_schema", "body")]),
    ("no-body", 200, JSON, None, [("response_schema", "body")]),
    ("html", 200, {"content-type": "text/html"}, b"<html>",
     [("content_type", "header.Content-Type")]),
]


@pytest.mark.parametrize(("status", "headers", "sent", "expected"),
                         [case[1:] for case in RESPONSE_CASES], ids=[c[0] for c in RESPONSE_CASES])
def test_response_findings(auth: Contract, status: int, headers: dict[str, str],
                           sent: bytes | None, expected: list[tuple[str, str]]) -> None:
    findings = judge_response(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE, status=status,
                              headers=headers, body=sent)
    assert kinds(findings) == expected
    for finding in findings:
        assert finding.recommendation.startswith("The auth service ")


def test_undocumented_401_points_at_the_responses(auth: Contract) -> None:
    (finding,) = judge_response(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE, status=401,
                                headers=JSON, body=body({"detail": "Invalid or expired API key"}))
    assert finding.contract is not None
    assert finding.contract.pointer == "/paths/~1api~1v1~1keys~1validate/post/responses"
    assert finding.contract.line == auth.line_of(finding.contract.pointer)
    assert finding.observed == '401 {"detail": "Invalid or expired API key"}'
    assert finding.expected == "one of the documented statuses: 200, 422"


def test_response_schema_cites_the_required_rule(auth: Contract) -> None:
    (finding,) = judge_response(auth, Hop.CLIENT_TO_AUTH, "POST", VALIDATE, status=200,
                                headers=JSON, body=body({"key_id": KEY_ID}))
    assert finding.contract is not None
    assert finding.contract.pointer == "/components/schemas/ValidationResult/required"
    assert finding.contract.line == source_line(auth, "ValidationResult", "required")


def test_observed_is_redacted_and_truncated(auth: Contract) -> None:
    long = body({"detail": f"key {KEY} rejected", "pad": "x" * 500})
    (finding,) = judge_response(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE, status=401,
                                headers=JSON, body=long)
    assert KEY not in finding.observed and KEY[:10] + "..." + KEY[-4:] in finding.observed
    assert len(finding.observed) <= 200


def test_response_to_an_unknown_operation_is_left_to_the_request(auth: Contract) -> None:
    assert judge_response(auth, Hop.PROXY_TO_AUTH, "GET", "/nope", status=404) == []


# -- a contract of our own: headers, artifacts, credential leaks --------------------------

PROXY_CONTRACT = """\
openapi: 3.0.3
info: {title: mlflow-ish, version: "1"}
servers: [{url: /api/mlflow}]
paths:
  /api/2.0/mlflow/runs/create:
    post:
      parameters:
        - {name: X-Hokusai-User-Id, in: header, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                experiment_id: {type: string}
                tags:
                  type: array
                  items:
                    type: object
                    properties: {key: {type: string}, value: {type: string}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
        "429":
          description: slow down
          headers:
            Retry-After: {required: true, schema: {type: integer}}
  /api/2.0/mlflow/runs/search:
    get:
      parameters:
        - {name: max_results, in: query, required: true, schema: {type: integer}}
        - {name: run_ids, in: query, schema: {type: array, items: {type: string}}}
      responses:
        "200": {description: ok}
        4XX: {description: client error}
  /api/2.0/mlflow-artifacts/artifacts/{path}:
    put:
      parameters:
        - {name: path, in: path, required: true, schema: {type: string}}
      requestBody:
        content:
          application/octet-stream: {schema: {type: string, format: binary}}
      responses:
        "200": {description: ok}
"""
HEADERS = {"X-Hokusai-User-Id": "u1", **JSON}


@pytest.fixture
def proxy(tmp_path: Path) -> Contract:
    path = tmp_path / "mlflow.yaml"
    path.write_text(textwrap.dedent(PROXY_CONTRACT), encoding="utf-8")
    return Contract.load(path, root=tmp_path)


def test_missing_required_header_and_query(proxy: Contract) -> None:
    findings = judge_request(proxy, Hop.PROXY_TO_MLFLOW, "POST", "/api/2.0/mlflow/runs/create",
                             headers=JSON, body=b"{}")
    assert kinds(findings) == [("missing_required_field", "header.X-Hokusai-User-Id")]
    assert findings[0].contract is not None
    assert findings[0].contract.pointer.endswith("/parameters/0/required")
    findings = judge_request(proxy, Hop.PROXY_TO_MLFLOW, "GET", "/api/2.0/mlflow/runs/search",
                             query=[("run_ids", "a"), ("run_ids", "b")])
    assert kinds(findings) == [("missing_required_field", "query.max_results")]
    prefixed = "/api/mlflow/api/2.0/mlflow/runs/search"
    assert judge_request(proxy, Hop.PROXY_TO_MLFLOW, "GET", prefixed,
                         query=[("max_results", "10")]) == []


def test_artifact_paths_span_slashes(proxy: Contract) -> None:
    assert judge_request(proxy, Hop.PROXY_TO_MLFLOW, "PUT",
                         "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/model/model.pkl",
                         headers={"Content-Type": "application/octet-stream"},
                         body=b"\x80\x04binary") == []


def test_required_response_header_and_status_ranges(proxy: Contract) -> None:
    path = "/api/2.0/mlflow/runs/create"
    findings = judge_response(proxy, Hop.PROXY_TO_MLFLOW, "POST", path, status=429)
    assert kinds(findings) == [("missing_header", "header.Retry-After")]
    assert findings[0].recommendation == (
        "The MLflow server must send the Retry-After header with 429 on POST "
        "/api/2.0/mlflow/runs/create.")
    assert judge_response(proxy, Hop.PROXY_TO_MLFLOW, "POST", path, status=429,
                          headers={"retry-after": "3"}) == []
    assert judge_response(proxy, Hop.PROXY_TO_MLFLOW, "GET", "/api/2.0/mlflow/runs/search",
                          status=404) == []  # 4XX documents it


LEAKS = [
    ("header", [], {"Authorization": f"Bearer {KEY}"}, None, "header.Authorization"),
    ("bearer-malformed", [], {"authorization": "Bearer hk_live_short"}, None,
     "header.Authorization"),
    ("custom-header", [], {"X-Forwarded-Key": TEST_KEY}, None, "header.X-Forwarded-Key"),
    ("query", [("api_key", KEY)], {}, None, "query.api_key"),
    ("json-body", [], {}, body({"experiment_id": "1", "tags": [{"key": "k", "value": KEY}]}),
     "body.tags[0].value"),
    ("raw-body", [], {}, b"token=" + KEY.encode() + b"&x=1", "body"),
]


@pytest.mark.parametrize(("query", "headers", "sent", "location"), [c[1:] for c in LEAKS],
                         ids=[c[0] for c in LEAKS])
def test_credential_leaks_when_forbidden(proxy: Contract, query: list[tuple[str, str]],
                                         headers: dict[str, str], sent: bytes | None,
                                         location: str) -> None:
    path = "/api/2.0/mlflow/runs/create"
    findings = judge_request(proxy, Hop.PROXY_TO_MLFLOW, "POST", path, query=query,
                             headers={**HEADERS, **headers}, body=sent or b"{}",
                             forbid_credentials=True)
    leaks = [f for f in findings if f.kind is FindingKind.CREDENTIAL_LEAK]
    assert [f.location for f in leaks] == [location]
    # The leak is the whole story about the credential there: no weaker "undeclared" twin.
    assert not [f for f in findings if f.kind is FindingKind.UNDECLARED_CREDENTIAL
                and f.location == location]
    assert "must not forward the caller's API key to the MLflow server" in leaks[0].recommendation
    assert_no_whole_key(findings)
    allowed = judge_request(proxy, Hop.PROXY_TO_MLFLOW, "POST", path, query=query,
                            headers={**HEADERS, **headers}, body=sent or b"{}")
    assert FindingKind.CREDENTIAL_LEAK not in {f.kind for f in allowed}


def test_leaks_are_reported_even_on_unknown_operations(proxy: Contract) -> None:
    findings = judge_request(proxy, Hop.PROXY_TO_MLFLOW, "GET", "/ajax-api/2.0/mlflow/x",
                             headers={"Authorization": f"Bearer {KEY}"}, forbid_credentials=True)
    assert kinds(findings) == [("unknown_operation", "path"),
                               ("credential_leak", "header.Authorization")]
    assert findings[1].contract is None


def test_masked_keys_from_a_journal_still_count_as_leaks(proxy: Contract) -> None:
    # Journals record messages already masked; the masked form proves the key crossed the hop.
    masked = f"{KEY[:10]}...{KEY[-4:]}"
    findings = judge_request(proxy, Hop.PROXY_TO_MLFLOW, "POST", "/api/2.0/mlflow/runs/create",
                             headers=HEADERS, body=body({"experiment_id": masked}),
                             forbid_credentials=True)
    assert kinds(findings) == [("credential_leak", "body.experiment_id")]


def test_an_omitted_body_is_not_a_missing_body(auth: Contract) -> None:
    judged = judge_request(auth, "proxy->auth", "POST", VALIDATE,  # type: ignore[arg-type]
                           headers=JSON, body=None, body_omitted=True)
    assert judged == []
    judged = judge_request(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE,
                           headers={"Content-Type": "text/plain"}, body_omitted=True)
    assert kinds(judged) == [("content_type", "header.Content-Type")]
    assert judge_response(auth, Hop.PROXY_TO_AUTH, "POST", VALIDATE, status=200, headers=JSON,
                          body_omitted=True) == []


# -- speed ------------------------------------------------------------------------------
