"""MLflow's REST API as OpenAPI 3.1, generated from MLflow's own protobuf descriptors.

MLflow publishes no OpenAPI document: its REST operations are declared in protos, each RPC
carrying its HTTP method, path and since-version in the ``databricks_pb2.rpc`` option. This module
finds the RPCs behind :data:`OPERATIONS` and assembles the document: GETs take their fields as
query parameters, other methods a JSON body, every operation MLflow's error body on 400, 404 and
``default``. How messages become schemas is :mod:`.mlflow_json`; what the server enforces beyond
the protos is :mod:`.mlflow_runtime`.

The result is a plain dict built in a fixed order (paths and components sorted, properties in
proto field order), so the committed YAML changes only when MLflow's protos, the operation list
or the rules do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import Final

from google.protobuf.descriptor import Descriptor, FileDescriptor, MethodDescriptor

from hokusai_mlflow_openapi.json_encoding import JSON, SchemaBuilder
from hokusai_mlflow_openapi.outside_protos import HEALTH_PATH, SERVER_INFO_PATH, health, server_info, serves_server_info
from hokusai_mlflow_openapi.runtime_answers import RUNTIME_ANSWERS
from hokusai_mlflow_openapi.runtime_rules import ARTIFACT_PATH_PATTERN, PATH_SEGMENT_PATTERN

__all__ = [
    "API_PREFIX",
    "HEALTH_PATH",
    "OPERATIONS",
    "READ_ONLY_POSTS",
    "SERVER_INFO_PATH",
    "MlflowOperation",
    "build_mlflow_openapi",
    "mlflow_version",
    "find_operations",
    "resolve_operations",
]

# The operations the contract covers, as (METHOD, path) in contract form.
OPERATIONS: Final[tuple[tuple[str, str], ...]] = (
    # Every call of one third-party registration (reference/mlflow-registration-calls.md).
    ("GET", "/api/2.0/mlflow/experiments/search"),
    ("POST", "/api/2.0/mlflow/experiments/search"),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
    ("POST", "/api/2.0/mlflow/experiments/create"),
    ("GET", "/api/2.0/mlflow/experiments/get"),
    ("POST", "/api/2.0/mlflow/runs/create"),
    ("GET", "/api/2.0/mlflow/runs/get"),
    ("POST", "/api/2.0/mlflow/runs/log-parameter"),
    ("POST", "/api/2.0/mlflow/runs/log-metric"),
    ("POST", "/api/2.0/mlflow/runs/log-batch"),
    ("POST", "/api/2.0/mlflow/runs/set-tag"),
    ("POST", "/api/2.0/mlflow/runs/outputs"),
    ("POST", "/api/2.0/mlflow/runs/update"),
    ("GET", "/api/2.0/mlflow/metrics/get-history"),
    ("POST", "/api/2.0/mlflow/logged-models"),
    ("GET", "/api/2.0/mlflow/logged-models/{model_id}"),
    ("PATCH", "/api/2.0/mlflow/logged-models/{model_id}"),
    ("PATCH", "/api/2.0/mlflow/logged-models/{model_id}/tags"),
    ("POST", "/api/2.0/mlflow/logged-models/search"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path}"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("POST", "/api/2.0/mlflow/registered-models/create"),
    ("POST", "/api/2.0/mlflow/model-versions/create"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
    # What the client also calls around registration: polling, lookups, downloads.
    ("GET", "/api/2.0/mlflow/registered-models/get"),
    ("GET", "/api/2.0/mlflow/model-versions/get"),
    ("GET", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    # MlflowClient.get_latest_versions sends the POST form (measured with the 3.17.2 client).
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{path}"),
    # What a client does with what it made: the scenario deletes it (DELETE with a JSON body).
    ("DELETE", "/api/2.0/mlflow/model-versions/delete"),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete"),
    ("POST", "/api/2.0/mlflow/experiments/delete"),
    # MLflow 2.x clients record a logged model on the run instead of creating a logged model
    # (measured with the 2.9.2 client, against 2.9.2 and 3.x servers alike).
    ("POST", "/api/2.0/mlflow/runs/log-model"),
    # A client with MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD (large artifacts, an S3 store behind MLflow).
    ("POST", "/api/2.0/mlflow-artifacts/mpu/create/{path}"),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/complete/{path}"),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/abort/{path}"),
    # A client after 3.9 downloads through a presigned URL when the server says it can
    # (server-info's multipart_downloads_enabled: an S3 store behind such a server; measured with 3.17.2).
    ("GET", "/api/2.0/mlflow-artifacts/presigned/{path}"),
)

API_PREFIX: Final = "/api/2.0"
# POSTs that only read: MLflow searches by POST because filters do not fit a query string.
READ_ONLY_POSTS: Final = frozenset(
    {"getLatestVersions", "searchExperiments", "searchLoggedModels", "searchRuns"}
)
# Flask's ``<path:artifact_path>`` is ``{path}`` in our contracts, as in the proxy's routes.
_PATH_PARAMETER_NAMES: Final = {"artifact_path": "path"}
_HTTP_METHOD_ORDER: Final = ("get", "put", "post", "patch", "delete")


@dataclass(frozen=True, slots=True)
class MlflowOperation:
    """One HTTP endpoint of one RPC, as found in MLflow's descriptors."""

    method: str
    path: str
    service: str
    rpc: MethodDescriptor
    since: str
    title: str
    # Position among the RPC's endpoints in the proto (searchExperiments: POST 0, GET 1).
    endpoint_index: int

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def read_only(self) -> bool:
        return self.method == "GET" or self.rpc.name in READ_ONLY_POSTS


def mlflow_version() -> str:
    return version("mlflow")


def _proto_files() -> list[FileDescriptor]:
    # Imported here, not at module level: importing the pb2 modules runs mlflow/__init__ (about a
    # second), which only generation needs.
    from mlflow.protos import mlflow_artifacts_pb2, model_registry_pb2, service_pb2

    return [service_pb2.DESCRIPTOR, model_registry_pb2.DESCRIPTOR, mlflow_artifacts_pb2.DESCRIPTOR]


def _contract_path(proto_path: str) -> str:
    """``/mlflow-artifacts/artifacts/<path:artifact_path>`` -> ``/api/2.0/.../{path}``."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", "/" + proto_path.lstrip("/"))
    for flask_name, name in _PATH_PARAMETER_NAMES.items():
        path = path.replace("{" + flask_name + "}", "{" + name + "}")
    return API_PREFIX + path


def _all_endpoints() -> Iterator[MlflowOperation]:
    from mlflow.protos import databricks_pb2

    for file in _proto_files():
        for service in file.services_by_name.values():
            for rpc in service.methods:
                options = rpc.GetOptions().Extensions[databricks_pb2.rpc]
                for index, endpoint in enumerate(options.endpoints):
                    yield MlflowOperation(
                        method=endpoint.method,
                        path=_contract_path(endpoint.path),
                        service=service.name,
                        rpc=rpc,
                        since=f"{endpoint.since.major}.{endpoint.since.minor}",
                        title=options.rpc_doc_title,
                        endpoint_index=index,
                    )


def find_operations(
    selection: tuple[tuple[str, str], ...] = OPERATIONS,
) -> tuple[list[MlflowOperation], list[str]]:
    """The descriptors behind ``selection`` that this MLflow declares, and the rest as ``METHOD path``."""
    index: dict[tuple[str, str], MlflowOperation] = {}
    for op in _all_endpoints():
        # The first declaration wins, as in Flask's router (MLflow registers them in this order).
        index.setdefault((op.method, op.path), op)
    found = [index[key] for key in selection if key in index]
    return found, [f"{m} {p}" for m, p in selection if (m, p) not in index]


def resolve_operations(
    selection: tuple[tuple[str, str], ...] = OPERATIONS,
) -> list[MlflowOperation]:
    """The descriptors behind ``selection``; a missing one is an error, never a silent gap."""
    found, missing = find_operations(selection)
    if missing:
        raise LookupError(
            f"MLflow {mlflow_version()} declares no RPC for: {', '.join(missing)}. "
            "Check the path against the protos (python -m hokusai_mlflow_openapi.generate "
            "lists none; see mlflow/protos/*.proto) or drop it from OPERATIONS."
        )
    return found


def build_mlflow_openapi(
    selection: tuple[tuple[str, str], ...] = OPERATIONS,
    servers: list[JSON] | None = None,
    *,
    strict: bool = True,
) -> JSON:
    """The OpenAPI 3.1 document for ``selection``: paths, components, nothing proxy-specific.

    ``strict``: an operation this MLflow does not declare is an error (the pinned version, where a
    miss is a typo in ``OPERATIONS``). Otherwise (another version's protos: MLflow 2.x has no
    logged models) it is left out and listed, with every rule the protos give no field for, in
    ``x-mlflow-unmapped``.
    """
    missing: list[str] = []
    if strict:
        operations = resolve_operations(selection)
    else:
        operations, missing = find_operations(selection)
    builder = SchemaBuilder()
    paths = _operation_paths(operations, builder)
    unmapped = [f"{op}: this MLflow declares no RPC for it" for op in missing]
    if serves_server_info():
        paths[SERVER_INFO_PATH] = {"get": server_info()}
    else:
        unmapped.append(f"GET {SERVER_INFO_PATH}: this MLflow has no server-info route (mlflow.server.server_info_api)")
    paths[HEALTH_PATH] = {"get": health()}
    _check_unique_operation_ids(paths)
    builder.components["mlflow_Error"] = _ERROR_SCHEMA
    document: JSON = {
        "openapi": "3.1.0",
        "info": _info(),
        "servers": servers or [{"url": "http://127.0.0.1:5000", "description": "mlflow server"}],
        "tags": [{"name": n} for n in sorted({op.service for op in operations} | {"ServerInfo"})],
        "paths": {path: _ordered_methods(paths[path]) for path in sorted(paths)},
        "components": {
            "schemas": {name: builder.components[name] for name in sorted(builder.components)},
            "responses": {"mlflow_Error": _ERROR_RESPONSE},
        },
    }
    unmapped += builder.unmapped
    if unmapped:
        document["x-mlflow-unmapped"] = unmapped
    return document


def _operation_paths(operations: list[MlflowOperation], builder: SchemaBuilder) -> dict[str, dict[str, JSON]]:
    """Path -> method -> operation, each RPC endpoint's schemas added to ``builder``."""
    paths: dict[str, dict[str, JSON]] = {}
    first_selected: dict[str, int] = {}
    for op in operations:
        index = first_selected.get(op.rpc.full_name, op.endpoint_index)
        first_selected[op.rpc.full_name] = min(index, op.endpoint_index)
    for op in operations:
        # Two endpoints of one RPC (search by POST and by GET) need distinct operationIds: the
        # one declared first in the proto keeps the RPC name, the other adds its method.
        operation_id = op.rpc.name
        if op.endpoint_index != first_selected[op.rpc.full_name]:
            operation_id = f"{op.rpc.name}{op.method.capitalize()}"
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, operation_id, builder)
    return paths


def _info() -> JSON:
    return {
        "title": "MLflow tracking server REST API",
        "version": mlflow_version(),
        "description": (
            f"Generated from the protobuf descriptors of mlflow=={mlflow_version()} "
            "(mlflow.protos.service_pb2, model_registry_pb2, mlflow_artifacts_pb2), with the "
            "request validation the server adds at run time. MLflow publishes no OpenAPI "
            "document of its own."
        ),
    }


def _ordered_methods(methods: dict[str, JSON]) -> dict[str, JSON]:
    return {m: methods[m] for m in _HTTP_METHOD_ORDER if m in methods}


def _check_unique_operation_ids(paths: Mapping[str, Mapping[str, JSON]]) -> None:
    ids = [op["operationId"] for methods in paths.values() for op in methods.values()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(
            f"Two selected operations share the RPC name {duplicates}: OpenAPI needs unique "
            "operationIds. Select only one of them in OPERATIONS."
        )


_ERROR_SCHEMA: Final[JSON] = {
    "type": "object",
    "description": (
        "MlflowException.serialize_as_json: error_code is an ErrorCode name "
        "(INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, ...); sqlstate and error_class "
        "when the exception sets them."
    ),
    "required": ["error_code", "message"],
    "properties": {
        "error_code": {"type": "string"},
        "message": {"type": "string"},
        "sqlstate": {"type": "string"},
        "error_class": {"type": "string"},
    },
}
_ERROR_RESPONSE: Final[JSON] = {
    "description": "MLflow error (catch_mlflow_exception)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/mlflow_Error"}}},
}
_ERROR_REF: Final[JSON] = {"$ref": "#/components/responses/mlflow_Error"}
# The download's type is guessed from the file name (mime_type_utils._guess_mime_type).
_ANY_BYTES: Final[JSON] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


def _operation(op: MlflowOperation, operation_id: str, builder: SchemaBuilder) -> JSON:
    request = op.rpc.input_type
    path_names = op.path_parameters
    operation: JSON = {
        "operationId": operation_id,
        "summary": op.title or op.rpc.name,
        "tags": [op.service],
        "x-mlflow-rpc": op.rpc.full_name,
        "x-mlflow-since": op.since,
    }
    if op.read_only:
        operation["x-live-safe"] = True
    parameters = [_path_parameter(name) for name in path_names]
    is_artifact = op.path.startswith(f"{API_PREFIX}/mlflow-artifacts/artifacts/{{")
    if op.method == "GET":
        parameters += _query_parameters(request, frozenset(path_names), builder)
    elif is_artifact:
        # Raw bytes, labelled by the client with a type guessed from the file name
        # (http_artifact_repo.log_artifact); an empty file is a valid upload.
        operation["requestBody"] = {"required": False, "content": _ANY_BYTES}
    else:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": builder.ref(request, "input")}},
        }
    if parameters:
        operation["parameters"] = parameters
    success: JSON = {"description": "OK"}
    if is_artifact and op.method == "GET":
        success = {"description": "The artifact's bytes, as an attachment", "content": _ANY_BYTES}
    elif is_artifact:
        # Under uvicorn (mlflow server's default) artifact_router answers an empty 200 with no
        # Content-Type; under Flask alone it is {} in JSON. Either satisfies a body-less 200.
        success = {"description": "Stored (empty body)"}
    else:
        schema = builder.ref(op.rpc.output_type, "output")
        success["content"] = {"application/json": {"schema": schema}}
    operation["responses"] = {
        "200": success,
        "400": _ERROR_REF,
        "404": _ERROR_REF,
        **RUNTIME_ANSWERS.get(op.rpc.full_name, {}),
        "default": _ERROR_REF,
    }
    return operation


def _path_parameter(name: str) -> JSON:
    schema: JSON = {"type": "string", "minLength": 1, "pattern": PATH_SEGMENT_PATTERN}
    parameter: JSON = {"name": name, "in": "path", "required": True, "schema": schema}
    if name == "path":
        schema["pattern"] = ARTIFACT_PATH_PATTERN
        parameter["description"] = (
            "Relative artifact path; may hold '/' (the server's route is {artifact_path:path}). "
            "MLflow server: no '#' or '..' segment, not absolute "
            "(uri.validate_path_is_safe; measured 400 'Invalid path'); no C0 control character "
            "(stored escaped as %xx, so another file is meant)."
        )
    return parameter


def _query_parameters(
    request: Descriptor, path_names: frozenset[str], builder: SchemaBuilder
) -> list[JSON]:
    """GET requests: each field is a query parameter (``_get_request_message`` reads args)."""
    body = builder.message(request, "query", skip=path_names)
    required = set(body.get("required", []))
    parameters: list[JSON] = []
    for name, schema in body["properties"].items():
        if "$ref" in schema or schema.get("items", {}).get("$ref"):
            raise ValueError(
                f"{request.full_name}.{name} is a message: a GET cannot carry it as a query "
                "parameter (MLflow's handler would fail to parse it)."
            )
        description = schema.pop("description", None)
        parameter: JSON = {"name": name, "in": "query", "required": name in required}
        if description:
            parameter["description"] = description
        if schema.get("type") == "array":
            # The handler reads repeated fields with args.getlist: ?a=1&a=2.
            parameter.update(style="form", explode=True)
        parameter["schema"] = schema
        parameters.append(parameter)
    return parameters
