"""The MLflow contract generated from MLflow's protos, and the proxy contract built on it.

No network: the generator reads the installed mlflow package's descriptors only.
"""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from hokusai_mlflow_openapi.generate import render_contracts
from hokusai_mlflow_openapi.json_encoding import or_null
from hokusai_mlflow_openapi.overlay import deep_merge, merge_overlay
from hokusai_mlflow_openapi.protos import (
    HEALTH_PATH,
    READ_ONLY_POSTS,
    build_mlflow_openapi,
    resolve_operations,
)
from hokusai_mlflow_openapi.runtime_rules import RUNTIME_RULES

A = "/api/2.0/mlflow"
# Every call of one third-party registration with the MLflow 3.17.2 client
# (shared/reference/mlflow-registration-calls.md), path parameters generalised.
REGISTRATION_CALLS = [
    ("GET", f"{A}/experiments/search"),
    ("POST", f"{A}/experiments/search"),
    ("GET", f"{A}/experiments/get-by-name"),
    ("POST", f"{A}/experiments/create"),
    ("GET", f"{A}/experiments/get"),
    ("POST", f"{A}/runs/create"),
    ("GET", f"{A}/runs/get"),
    ("POST", f"{A}/runs/log-parameter"),
    ("POST", f"{A}/runs/log-metric"),
    ("POST", f"{A}/runs/log-batch"),
    ("POST", f"{A}/runs/set-tag"),
    ("POST", f"{A}/runs/outputs"),
    ("POST", f"{A}/runs/update"),
    ("GET", f"{A}/metrics/get-history"),
    ("POST", f"{A}/logged-models"),
    ("GET", f"{A}/logged-models/{{model_id}}"),
    ("PATCH", f"{A}/logged-models/{{model_id}}"),
    ("PATCH", f"{A}/logged-models/{{model_id}}/tags"),
    ("POST", f"{A}/logged-models/search"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path}"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("POST", f"{A}/registered-models/create"),
    ("POST", f"{A}/model-versions/create"),
    ("GET", f"{A}/registered-models/search"),
]
ALSO_COVERED = [
    ("GET", f"{A}/registered-models/get"),
    ("GET", f"{A}/model-versions/get"),
    ("GET", f"{A}/registered-models/get-latest-versions"),
    ("POST", f"{A}/registered-models/get-latest-versions"),
    ("POST", f"{A}/runs/search"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{path}"),
    ("GET", "/api/3.0/mlflow/server-info"),
]
PROXY_STATUSES = ["401", "403", "429", "502", "503", "504"]


@pytest.fixture(scope="module")
def mlflow_doc() -> dict[str, Any]:
    return build_mlflow_openapi()


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_contracts()


@pytest.fixture(scope="module")
def proxy_doc(rendered: dict[str, str]) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(rendered["mlflow-proxy.yaml"])


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


def schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = doc["components"]["schemas"][name]
    return result


@pytest.mark.parametrize(("method", "path"), REGISTRATION_CALLS + ALSO_COVERED)
def test_every_call_of_a_registration_is_in_the_contract(
    mlflow_doc: dict[str, Any], method: str, path: str
) -> None:
    assert (method, path) in operations(mlflow_doc)


def test_operation_ids_are_rpc_names_and_unique(mlflow_doc: dict[str, Any]) -> None:
    ops = operations(mlflow_doc)
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    for op in ops.values():
        if "x-mlflow-rpc" not in op:  # server-info and health, written by hand: not RPCs
            assert op["operationId"] in ("getServerInfo", "health")
            continue
        rpc_name = op["x-mlflow-rpc"].rsplit(".", 1)[1]
        assert op["operationId"] in (rpc_name, rpc_name + "Get", rpc_name + "Post")
    # The endpoint declared first in the proto keeps the plain RPC name.
    assert ops[("POST", f"{A}/experiments/search")]["operationId"] == "searchExperiments"
    assert ops[("GET", f"{A}/experiments/search")]["operationId"] == "searchExperimentsGet"


def test_error_responses_use_mlflows_error_body(mlflow_doc: dict[str, Any]) -> None:
    error = schema(mlflow_doc, "mlflow_Error")
    assert error["required"] == ["error_code", "message"]
    assert set(error["properties"]) == {"error_code", "message", "sqlstate", "error_class"}
    ref = {"$ref": "#/components/responses/mlflow_Error"}
    for op in operations(mlflow_doc).values():
        if op["operationId"] == "health":  # plain text, never MLflow's error body
            assert set(op["responses"]) == {"200"}
            continue
        if "x-mlflow-rpc" not in op:  # server-info takes no input, so only its default errs
            assert op["responses"]["default"] == ref
            continue
        assert {k: op["responses"][k] for k in ("400", "404", "default")} == dict.fromkeys(
            ("400", "404", "default"), ref
        )


def test_live_safe_marks_reads_only(mlflow_doc: dict[str, Any]) -> None:
    for (method, path), op in operations(mlflow_doc).items():
        is_read = method == "GET" or op["operationId"] in READ_ONLY_POSTS
        assert bool(op.get("x-live-safe")) is is_read, f"{method} {path}"
    assert ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path}") in operations(mlflow_doc)


def test_get_fields_are_query_parameters_and_bodies_are_json(mlflow_doc: dict[str, Any]) -> None:
    ops = operations(mlflow_doc)
    stages = next(
        p for p in ops[("GET", f"{A}/registered-models/get-latest-versions")]["parameters"]
        if p["name"] == "stages"
    )
    assert (stages["in"], stages["style"], stages["explode"]) == ("query", "form", True)
    assert stages["schema"]["type"] == "array"
    finalize = ops[("PATCH", f"{A}/logged-models/{{model_id}}")]
    assert [p["name"] for p in finalize["parameters"] if p["in"] == "path"] == ["model_id"]
    assert "application/json" in finalize["requestBody"]["content"]


def test_int64_is_a_number_out_and_a_number_or_string_in(mlflow_doc: dict[str, Any]) -> None:
    # message_to_json(convert_int64_to_number=True) emits numbers; ParseDict also takes "123".
    emitted = schema(mlflow_doc, "mlflow_Metric")["properties"]["timestamp"]
    assert emitted["type"] == "integer" and emitted["format"] == "int64"
    accepted = schema(mlflow_doc, "mlflow_Metric-input")["properties"]["timestamp"]
    # ... and null for "absent", the field being optional in the shared component.
    assert {branch["type"] for branch in accepted["anyOf"]} == {"integer", "string", "null"}


def test_enums_are_names_out_and_names_or_numbers_in(mlflow_doc: dict[str, Any]) -> None:
    emitted = schema(mlflow_doc, "mlflow_RunInfo")["properties"]["status"]
    assert emitted == {"type": "string", "enum": ["RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                                  "KILLED"]}
    accepted = schema(mlflow_doc, "mlflow_UpdateRun-input")["properties"]["status"]
    assert accepted["anyOf"][0]["enum"] == emitted["enum"]
    assert accepted["anyOf"][1]["type"] == "integer"


def test_runtime_rules_tighten_what_the_protos_allow(mlflow_doc: dict[str, Any]) -> None:
    name = schema(mlflow_doc, "mlflow_CreateExperiment-input")["properties"]["name"]
    assert name["minLength"] == 1 and name["description"].startswith("MLflow server:")
    search = schema(mlflow_doc, "mlflow_SearchExperiments-input")
    assert "max_results" in search["required"]
    assert search["properties"]["max_results"]["minimum"] == 1
    log_metric = schema(mlflow_doc, "mlflow_LogMetric-input")
    # run_id, or else run_uuid; a null run_id counts as absent (ParseDict), so it must be text.
    assert {"required": ["run_id"], "properties": {"run_id": {"type": "string"}}} in log_metric[
        "anyOf"
    ]
    batch_items = schema(mlflow_doc, "mlflow_LogBatch-input")["properties"]["metrics"]["items"]
    assert batch_items["allOf"][0] == {"$ref": "#/components/schemas/mlflow_Metric-input"}
    assert batch_items["allOf"][1]["required"] == ["key", "value", "timestamp"]
    # Narrowing one request's items leaves the shared component alone.
    assert "pattern" not in schema(mlflow_doc, "mlflow_Metric-input")["properties"]["key"]
    get_run = operations(mlflow_doc)[("GET", f"{A}/runs/get")]["parameters"]
    assert [(p["name"], p["required"]) for p in get_run] == [("run_id", True)]


def request_validator(doc: dict[str, Any], method: str, path: str) -> Any:
    """A validator for one operation's JSON request body, its $refs resolved in ``doc``."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:contract", Resource(doc, DRAFT202012))
    body = operations(doc)[(method, path)]["requestBody"]["content"]["application/json"]
    return Draft202012Validator({"$ref": "urn:contract" + body["schema"]["$ref"]},
                                registry=registry)


@pytest.mark.parametrize(
    ("method", "path", "body", "null_field", "accepted"),
    [
        # Measured against mlflow server 3.17.2: each null answered as the field's absence.
        ("POST", f"{A}/experiments/create", {"name": "x"}, "tags", True),
        ("POST", f"{A}/experiments/create", {"name": "x"}, "artifact_location", True),
        ("POST", f"{A}/registered-models/get-latest-versions", {"name": "m"}, "stages", True),
        ("POST", f"{A}/logged-models/search", {"experiment_ids": ["0"]}, "page_token", True),
        ("POST", f"{A}/logged-models/search", {"experiment_ids": ["0"]}, "max_results", True),
        ("POST", f"{A}/registered-models/create", {"name": "m"}, "deployment_job_id", True),
        ("POST", f"{A}/runs/update", {"run_id": "r"}, "status", True),
        # A null run_id is absent, so the handler reads run_uuid instead (measured 200).
        ("POST", f"{A}/runs/set-tag", {"run_uuid": "r", "key": "k", "value": "v"}, "run_id", True),
        # Required fields: the handler's _assert_required rejects None (measured 400).
        ("POST", f"{A}/experiments/create", {"name": "x"}, "name", False),
        ("POST", f"{A}/registered-models/get-latest-versions", {"name": "m"}, "name", False),
        ("POST", f"{A}/logged-models/search", {"experiment_ids": ["0"]}, "experiment_ids", False),
        ("POST", f"{A}/runs/set-tag", {"run_id": "r", "key": "k", "value": "v"}, "key", False),
        # run_id null and no run_uuid: neither is given (measured 400 "Missing value ... run_id").
        ("POST", f"{A}/runs/set-tag", {"run_id": "r", "key": "k", "value": "v"}, "run_id", False),
    ],
)
def test_null_is_an_optional_request_fields_absence(
    mlflow_doc: dict[str, Any], method: str, path: str, body: dict[str, Any], null_field: str,
    accepted: bool,
) -> None:
    validator = request_validator(mlflow_doc, method, path)
    assert validator.is_valid(body)
    assert validator.is_valid({**body, null_field: None}) is accepted


def test_null_in_request_items_follows_the_same_rule(mlflow_doc: dict[str, Any]) -> None:
    create = request_validator(mlflow_doc, "POST", f"{A}/experiments/create")
    assert create.is_valid({"name": "x", "tags": [{"key": "k", "value": None}]})
    # tags[].key is required for this request only; its shared component leaves it optional.
    assert not create.is_valid({"name": "x", "tags": [{"key": None, "value": "v"}]})
    assert not create.is_valid({"name": "x", "tags": [None]})  # items are never null
    batch = request_validator(mlflow_doc, "POST", f"{A}/runs/log-batch")
    metric = {"key": "m", "value": 1, "timestamp": "5"}  # ParseDict's decimal string stays valid
    assert batch.is_valid({"run_id": "r", "metrics": [{**metric, "step": None}]})
    assert not batch.is_valid({"run_id": "r", "metrics": [{**metric, "timestamp": None}]})
    # A null dataset_name is absent, so a digest alone is one of the pair (measured 400).
    log_metric = request_validator(mlflow_doc, "POST", f"{A}/runs/log-metric")
    metric = {"run_id": "r", "key": "m", "value": 1, "timestamp": 1}
    assert log_metric.is_valid({**metric, "dataset_name": None, "dataset_digest": None})
    assert not log_metric.is_valid({**metric, "dataset_name": None, "dataset_digest": "d"})


def test_responses_and_queries_never_take_null(mlflow_doc: dict[str, Any]) -> None:
    def mentions_null(node: Any) -> bool:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "null" or (isinstance(kind, list) and "null" in kind):
                return True
            return any(mentions_null(v) for v in node.values())
        return isinstance(node, list) and any(mentions_null(v) for v in node)

    for name, component in mlflow_doc["components"]["schemas"].items():
        if not name.endswith("-input"):
            assert not mentions_null(component), name
    for op in operations(mlflow_doc).values():
        assert not mentions_null(op.get("parameters", [])), op["operationId"]
        if op["operationId"] != "getServerInfo":  # its store_type is null on some servers
            assert not mentions_null(op["responses"]), op["operationId"]


@pytest.mark.parametrize(
    ("schema_in", "expected"),
    [
        ({"type": "string", "description": "d"}, {"type": ["string", "null"], "description": "d"}),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]},
         {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}),
        ({"$ref": "#/x", "description": "d"},
         {"anyOf": [{"$ref": "#/x"}, {"type": "null"}], "description": "d"}),
        ({"type": "string", "enum": ["a"]},
         {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]}),
        ({}, {}),
    ],
    ids=["type", "anyOf", "ref", "enum", "anything"],
)
def test_or_null(schema_in: dict[str, Any], expected: dict[str, Any]) -> None:
    assert or_null(schema_in) == expected


def test_health_is_mlflows_not_the_proxys(
    mlflow_doc: dict[str, Any], proxy_doc: dict[str, Any]
) -> None:
    health = operations(mlflow_doc)[("GET", HEALTH_PATH)]
    assert health["x-live-safe"] is True
    assert health["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string", "const": "OK"}}
    }
    # The proxy calls MLflow's /health for its own; its clients call /health/mlflow instead.
    assert HEALTH_PATH not in proxy_doc["paths"]
    assert ("GET", "/health/mlflow") in operations(proxy_doc)


def test_every_runtime_rule_names_a_real_field() -> None:
    from mlflow.protos import model_registry_pb2, service_pb2

    pools = [service_pb2.DESCRIPTOR.pool, model_registry_pb2.DESCRIPTOR.pool]
    for message_name, rules in RUNTIME_RULES.items():
        message = next(pool.FindMessageTypeByName(message_name) for pool in pools)
        for key in rules:
            field_name, _, item_field = key.partition("[]")
            field = message.fields_by_name.get(field_name)
            assert field is not None, f"{message_name}.{field_name}"
            if item_field:
                assert field.message_type.fields_by_name.get(item_field.lstrip("."))


def test_generation_is_deterministic(rendered: dict[str, str]) -> None:
    assert build_mlflow_openapi() == build_mlflow_openapi()
    assert render_contracts() == rendered


@pytest.mark.parametrize("name", ["mlflow.yaml", "mlflow-proxy.yaml"])
def test_both_contracts_are_valid_openapi(rendered: dict[str, str], name: str) -> None:
    import yaml

    text = rendered[name]
    assert text.startswith("# GENERATED by make contracts from mlflow==3.17.2 protos")
    validate(yaml.safe_load(text))


def test_proxy_adds_bearer_auth_and_its_statuses(proxy_doc: dict[str, Any]) -> None:
    assert proxy_doc["security"] == [{"bearerAuth": []}]
    scheme = proxy_doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert [s["url"] for s in proxy_doc["servers"]] == ["/api/mlflow", "/mlflow"]
    responses = proxy_doc["components"]["responses"]
    assert "WWW-Authenticate" in responses["proxy_Unauthenticated"]["headers"]
    assert "Retry-After" in responses["proxy_RateLimited"]["headers"]
    for key, op in operations(proxy_doc).items():
        if op.get("x-proxy-only"):
            continue
        assert set(PROXY_STATUSES) <= set(op["responses"]), key
        assert op["responses"]["default"] == {"$ref": "#/components/responses/mlflow_Error"}


def test_proxy_health_is_unauthenticated_and_typed(proxy_doc: dict[str, Any]) -> None:
    health = operations(proxy_doc)[("GET", "/health/mlflow")]
    assert health["security"] == []
    assert set(health["responses"]) == {"200", "503"}
    body = proxy_doc["components"]["schemas"]["proxy_Health"]
    assert body["required"] == ["status"]
    assert body["properties"]["status"]["enum"] == ["healthy", "degraded", "unhealthy"]


@pytest.mark.parametrize(
    ("base", "overlay", "expected"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": 3, "d": 4}}, {"a": {"b": 1, "c": 3, "d": 4}}),
        ({"servers": [{"url": "x"}]}, {"servers": [{"url": "y"}]}, {"servers": [{"url": "y"}]}),
        ({"a": 1, "b": 2}, {"b": None}, {"a": 1}),
        ({"a": {"b": 1}}, {"a": "scalar"}, {"a": "scalar"}),
    ],
    ids=["mappings-merge", "lists-replace", "null-deletes", "scalar-replaces-mapping"],
)
def test_deep_merge_rules(base: dict[str, Any], overlay: dict[str, Any],
                          expected: dict[str, Any]) -> None:
    assert deep_merge(base, overlay) == expected


def test_apply_to_all_operations_reaches_base_operations_only() -> None:
    base = {"paths": {"/a": {"get": {"responses": {"200": {}}}, "parameters": []}}}
    overlay = {
        "x-apply-to-all-operations": {"responses": {"401": {"description": "no key"}}},
        "paths": {"/health": {"get": {"responses": {"200": {}}}}},
    }
    merged = merge_overlay(base, overlay)
    assert merged["paths"]["/a"]["get"]["responses"] == {"200": {}, "401": {"description": "no key"}}
    assert merged["paths"]["/a"]["parameters"] == []
    assert merged["paths"]["/health"]["get"]["responses"] == {"200": {}}
    assert "x-apply-to-all-operations" not in merged
    assert "401" not in base["paths"]["/a"]["get"]["responses"]  # inputs are left alone


def test_a_selection_the_protos_do_not_declare_is_an_error() -> None:
    with pytest.raises(LookupError, match="declares no RPC for: GET /api/2.0/mlflow/nope"):
        resolve_operations((("GET", "/api/2.0/mlflow/nope"),))
