"""What MLflow's server enforces on requests beyond its protos, with the evidence for each rule.

The protos say little: a few ``validate_required`` options, which the open-source server never
checks. The handlers in ``mlflow/server/handlers.py`` validate each request against a small schema
(``_assert_required`` rejects a missing field *and* an empty string, because absent proto strings
parse as ``""``), and the stores add their own checks (``mlflow/utils/validation.py``). A contract
without these rules calls requests valid that the server answers with 400. Every rule here was read
in MLflow 3.17.2's source and confirmed against ``mlflow server --backend-store-uri sqlite:///...``
with Schemathesis; what remains MLflow's own bugs is in contracts/mlflow-deviations.found.yaml.

Rules stop at what a JSON Schema can say. Grammars the server parses (search ``filter``, page
tokens, model version ``source`` URIs) and state (names that already exist) are left to the
server: a request can follow this contract and still be answered 400 for them.

Keys are request messages. A field name ``items[]`` narrows the items of a repeated scalar;
``items[].key`` narrows a field of the items of a repeated message, for that request only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "ARTIFACT_PATH_PATTERN",
    "MESSAGE_RULES",
    "PATH_SEGMENT_PATTERN",
    "RUNTIME_RULES",
    "FieldRule",
]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """JSON Schema keywords for one request field, whether it is required, and how we know."""

    evidence: str
    keywords: Mapping[str, Any] = field(default_factory=dict)
    # None: as the proto says (validate_required); True/False: what the server does instead.
    required: bool | None = None
    # Left out of the contract (a deprecated alias the contract cannot state alongside its
    # replacement); the evidence says why.
    omit: bool = False


def _rule(evidence: str, required: bool | None = None, **keywords: Any) -> FieldRule:
    return FieldRule(evidence=evidence, keywords=keywords, required=required)


def _non_empty(handler: str, **keywords: Any) -> FieldRule:
    return _rule(f"required and non-empty ({handler}: _assert_required)", True, minLength=1, **keywords)


def _present(handler: str) -> FieldRule:
    return _rule(f"required ({handler}: _assert_required)", True)


# Metric, param and tag names: validation.validate_param_and_metric_name allows [/\w.\- :]
# (\w as Python's, Unicode-aware; so do Schemathesis and jsonschema), and path_not_unique rejects
# names that posixpath.normpath would change: empty or '.'/'..' segments, a leading '/', a
# trailing '/', or a leading '..'.
_SEGMENT_FIRST = r"(?:[\w\- :][\w.\- :]*|\.[\w\- :][\w.\- :]*)"
_SEGMENT = r"(?:[\w\- :][\w.\- :]*|\.[\w\- :][\w.\- :]*|\.\.[\w.\- :]+)"
ENTITY_NAME_PATTERN: Final = rf"^{_SEGMENT_FIRST}(?:/{_SEGMENT})*$"
# Registered model names: validation._validate_model_name: not blank, no '/' or ':', not '.', not
# starting with '..'.
MODEL_NAME_PATTERN: Final = r"^(?:[^/:.\s][^/:]*|\s[^/:]*[^/:\s][^/:]*|\.[^/:.][^/:]*)$"
# Artifact paths: uri.validate_path_is_safe rejects '#', a '..' segment and absolute paths, after
# percent-decoding the path once more ('%' is left out so that decoding changes nothing). It
# rejects a backslash only on Windows (_OS_ALT_SEPS): a Linux server stores 'a\b' (measured 200).
# C0 control characters and DEL are stored escaped as '%xx' (uri._escape_control_characters), so
# such a path names another file ('\x19' alone names the root directory), and a line break never
# reaches MLflow at all (Starlette's mount does not match it).
_ARTIFACT_CHAR = r"[^/#%\x00-\x1f\x7f]"
_ARTIFACT_SEGMENT = (
    rf"(?:[^/#%.\x00-\x1f\x7f]{_ARTIFACT_CHAR}*|\.[^/#%.\x00-\x1f\x7f]{_ARTIFACT_CHAR}*"
    rf"|\.\.{_ARTIFACT_CHAR}+)"
)
ARTIFACT_PATH_PATTERN: Final = rf"^{_ARTIFACT_SEGMENT}(?:/{_ARTIFACT_SEGMENT})*$"
# Other path parameters (model_id): Flask's default converter takes no '/', and a line break never
# reaches MLflow (404 {"detail": "Not Found"} from Starlette).
PATH_SEGMENT_PATTERN: Final = r"^[^/\r\n]+$"
# Experiment ids and model versions: the SQL stores parse them with int().
DIGITS_PATTERN: Final = r"^[0-9]+$"
_ORDER = r"(?: +(?:[Aa][Ss][Cc]|[Dd][Ee][Ss][Cc]))?"
_EXPERIMENT_ORDER_BY = rf"^(?:attribute\.)?(?:experiment_id|name|creation_time|last_update_time){_ORDER}$"
_MODEL_ORDER_BY = rf"^(?:name|timestamp|last_updated_timestamp){_ORDER}$"
_RUN_ORDER_BY = (
    r"^(?:(?:(?:attribute|attributes|attr|run)\.)?"
    r"(?:artifact_uri|end_time|run_id|run_name|start_time|status|user_id|created|Created)"
    r"|(?:metrics?|params?|parameters?|tags?)\.(?:[A-Za-z_][A-Za-z0-9_]*|`[\w .\-:/]+`)"
    rf"){_ORDER}$"
)
_LOGGED_MODEL_ORDER_BY = (
    r"^(?:model_id|experiment_id|name|artifact_location|creation_timestamp_ms"
    r"|last_updated_timestamp_ms|status|lifecycle_stage|model_type|source_run_id|status_message"
    r"|creation_time|creation_timestamp|last_updated_timestamp|metrics\..+)$"
)

_ENTITY_KEY = _rule(
    "a metric, param or tag name: [/\\w.\\- :], no empty, '.' or '..' segments, no leading or "
    "trailing '/', at most 250 characters (validation._validate_tag_name, "
    "MAX_ENTITY_KEY_LENGTH; measured 400 'Names may only contain ...')",
    True,
    pattern=ENTITY_NAME_PATTERN,
    maxLength=250,
)
_MODEL_NAME = _rule(
    "not blank, no '/' or ':', not '.' or starting with '..' (validation._validate_model_name; "
    "measured 400 \"Names cannot contain '/' or ':'\")",
    True,
    pattern=MODEL_NAME_PATTERN,
)
_EXPERIMENT_ID = _rule(
    "an integer (SqlAlchemyStore: _parse_experiment_id; measured 400 'Experiment ID must be a "
    "valid integer')",
    pattern=DIGITS_PATTERN,
)
_REQUIRED_EXPERIMENT_ID = FieldRule(
    evidence=_EXPERIMENT_ID.evidence + "; required",
    keywords=_EXPERIMENT_ID.keywords,
    required=True,
)
_RUN_ID_OR_UUID = _rule(
    "run_id, or the deprecated run_uuid, must be given and non-empty "
    "(_validate_request_json_with_schema: _assert_required with a run_uuid fallback)",
    False,
    minLength=1,
)
_RUN_UUID = _rule("deprecated alias of run_id, read only when run_id is absent", deprecated=True)
# A query string cannot say "run_id or run_uuid". Listing run_uuid next to a required run_id
# would make "run_uuid alone" a contract violation the server accepts, so GETs name run_id only
# (every MLflow client since 1.0 sends it); undeclared query parameters stay allowed.
_QUERY_RUN_UUID = FieldRule(evidence="deprecated alias of run_id; see run_id", omit=True)
_TIMESTAMP = _rule(
    "a non-negative epoch in milliseconds (validation._validate_metric)", True, minimum=0
)
_PAGE_TOKEN = _rule(
    "an opaque token the server issued: base64 of a JSON offset "
    "(SearchUtils.parse_start_offset_from_page_token)",
    pattern=r"^[A-Za-z0-9+/]*={0,2}$",
)
_DATASET_PAIR = (
    "dataset_name and dataset_digest come together (entities.Metric: 'Both dataset_name and "
    "dataset_digest must be provided if one is provided')"
)


def _together(a: str, b: str) -> dict[str, Any]:
    """Non-empty ``a`` needs non-empty ``b``: the server reads ``""`` as absent (``or None``).

    ``null`` is absent too (ParseDict), so only a non-empty string counts as given.
    """
    def given(name: str) -> dict[str, Any]:
        return {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}

    return {"allOf": [{"if": given(a), "then": given(b)}, {"if": given(b), "then": given(a)}]}


_DATASET_TOGETHER: Final = _together("dataset_name", "dataset_digest")
_MAX_RESULTS_STORE = (
    "between 1 and 50000 (SqlAlchemyStore._validate_max_results_param; measured 400 for 0)"
)

RUNTIME_RULES: Final[Mapping[str, Mapping[str, FieldRule]]] = {
    "mlflow.SearchExperiments": {
        "max_results": _rule(
            f"required: unset reads as 0, which the store rejects; {_MAX_RESULTS_STORE}",
            True,
            minimum=1,
            maximum=50000,
        ),
        "order_by[]": _rule("name, experiment_id, creation_time or last_update_time, with "
                            "ASC/DESC (SearchExperimentsUtils.parse_order_by_for_search_experiments)",
                            pattern=_EXPERIMENT_ORDER_BY),
        "page_token": _PAGE_TOKEN,
    },
    "mlflow.CreateExperiment": {
        "name": _rule(
            "required, non-empty, at most 500 characters (_create_experiment: "
            "_assert_required; validation._validate_experiment_name)",
            True,
            minLength=1,
            maxLength=500,
        ),
        "tags[].key": _ENTITY_KEY,
        "tags[].value": _rule("at most 20000 characters (MAX_EXPERIMENT_TAG_VAL_LENGTH)",
                              maxLength=20000),
    },
    "mlflow.GetExperimentByName": {"experiment_name": _non_empty("_get_experiment_by_name")},
    "mlflow.GetExperiment": {
        "experiment_id": FieldRule(
            evidence=_non_empty("_get_experiment").evidence + "; " + _EXPERIMENT_ID.evidence,
            keywords={"pattern": DIGITS_PATTERN},
            required=True,
        ),
    },
    "mlflow.CreateRun": {"experiment_id": _REQUIRED_EXPERIMENT_ID},
    "mlflow.GetRun": {
        "run_id": _non_empty("_get_run"),
        "run_uuid": _QUERY_RUN_UUID,
    },
    "mlflow.LogParam": {
        "run_id": _RUN_ID_OR_UUID,
        "run_uuid": _RUN_UUID,
        "key": _ENTITY_KEY,
    },
    "mlflow.LogMetric": {
        "run_id": _RUN_ID_OR_UUID,
        "run_uuid": _RUN_UUID,
        "key": _ENTITY_KEY,
        "timestamp": _TIMESTAMP,
    },
    "mlflow.LogBatch": {
        "run_id": _rule(
            "required; a run id: [A-Za-z0-9] then up to 255 of [\\w-] (_log_batch: "
            "_assert_required; validation._validate_run_id)",
            True,
            pattern=r"^[a-zA-Z0-9][\w\-]{0,255}$",
        ),
        "metrics[]": _rule(_DATASET_PAIR, **_DATASET_TOGETHER),
        "metrics[].key": _ENTITY_KEY,
        "metrics[].value": _present("_log_batch: _assert_metrics_fields_present"),
        "metrics[].timestamp": _TIMESTAMP,
        "params[].key": _ENTITY_KEY,
        "tags[].key": _ENTITY_KEY,
    },
    "mlflow.SetTag": {
        "run_id": _RUN_ID_OR_UUID,
        "run_uuid": _RUN_UUID,
        "key": _ENTITY_KEY,
    },
    "mlflow.LogOutputs": {
        "run_id": _non_empty("_log_outputs"),
        "models": _present("_log_outputs"),
    },
    "mlflow.UpdateRun": {"run_id": _RUN_ID_OR_UUID, "run_uuid": _RUN_UUID},
    "mlflow.LogModel": {
        "run_id": _non_empty("_log_model"),
        "model_json": _rule(
            "required and non-empty (_log_model: _assert_required); the server then json.loads it and wants "
            "an object with artifact_path, flavors, utc_time_created and run_id (400 'Malformed model info', "
            "'Model json is missing mandatory fields'), which a string's schema cannot state",
            True,
            minLength=1,
        ),
    },
    "mlflow.GetMetricHistory": {
        "run_id": _non_empty("_get_metric_history"),
        "run_uuid": _QUERY_RUN_UUID,
        "metric_key": _non_empty("_get_metric_history"),
        "max_results": _rule("positive when given (_get_metric_history)", minimum=1),
        "page_token": _PAGE_TOKEN,
    },
    "mlflow.SearchRuns": {
        "experiment_ids[]": _EXPERIMENT_ID,
        "max_results": _rule(_MAX_RESULTS_STORE, minimum=1, maximum=50000),
        "order_by[]": _rule("an attribute, metrics.<key>, params.<key> or tags.<key>, with "
                            "ASC/DESC (SearchUtils.parse_order_by_for_search_runs)",
                            pattern=_RUN_ORDER_BY),
        "page_token": _PAGE_TOKEN,
    },
    "mlflow.CreateLoggedModel": {
        "experiment_id": FieldRule(
            evidence=_non_empty("_create_logged_model").evidence + "; " + _EXPERIMENT_ID.evidence,
            keywords={"pattern": DIGITS_PATTERN},
            required=True,
        ),
        "name": _rule(
            "no '/', ':', '.', '%', '\"' or \"'\" (validation._validate_logged_model_name)",
            pattern=r"^[^/:.%\"']*$",
        ),
    },
    "mlflow.FinalizeLoggedModel": {
        # The handler reads model_id from the body, not from the path.
        "model_id": _non_empty("_finalize_logged_model"),
        "status": _present("_finalize_logged_model"),
    },
    "mlflow.SetLoggedModelTags": {
        "model_id": _rule(
            "taken from the path; the handler ignores it in the body and the client never "
            "sends it (rest_store.set_logged_model_tags)",
            False,
        ),
    },
    "mlflow.SearchLoggedModels": {
        "experiment_ids": _present("_search_logged_models"),
        "datasets[].dataset_name": _rule(
            "non-empty (SearchLoggedModelsUtils: '`dataset_name` in the `datasets` clause must "
            "be specified')",
            True,
            minLength=1,
        ),
        "order_by[].field_name": _rule(
            "a logged model column, an alias of one, or metrics.<key> "
            "(SqlAlchemyStore: SqlLoggedModel attributes and ALIASES)",
            True,
            pattern=_LOGGED_MODEL_ORDER_BY,
        ),
        "experiment_ids[]": _EXPERIMENT_ID,
        "page_token": _PAGE_TOKEN,
    },
    "mlflow.CreateRegisteredModel": {
        "name": _MODEL_NAME,
        "tags[].key": _ENTITY_KEY,
        "tags[].value": _rule("at most 100000 characters (MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH)",
                              maxLength=100000),
    },
    "mlflow.SearchRegisteredModels": {
        "max_results": _rule(
            "at most 1000 (_search_registered_models: _assert_less_than_or_equal)",
            maximum=1000,
        ),
        "order_by[]": _rule("name, timestamp or last_updated_timestamp, with ASC/DESC "
                            "(SearchUtils.parse_order_by_for_search_registered_models)",
                            pattern=_MODEL_ORDER_BY),
        "page_token": _PAGE_TOKEN,
    },
    "mlflow.GetRegisteredModel": {"name": _MODEL_NAME},
    "mlflow.GetLatestVersions": {
        "name": _MODEL_NAME,
        "stages[]": _rule(
            "a stage name (model_version_stages.get_canonical_stage; case-insensitive, the "
            "canonical spelling listed)",
            enum=["None", "Staging", "Production", "Archived"],
        ),
    },
    "mlflow.CreateModelVersion": {
        "name": _MODEL_NAME,
        "source": _non_empty("_create_model_version"),
        "tags[].key": _ENTITY_KEY,
    },
    "mlflow.GetModelVersion": {
        "name": _MODEL_NAME,
        "version": _rule(
            "required; an integer (_get_model_version: _assert_required; "
            "validation._validate_model_version)",
            True,
            pattern=DIGITS_PATTERN,
        ),
    },
    # Multipart upload: ``path`` in the body is the client's local file name (http_artifact_repo), the
    # artifact's place is the URL's; num_parts and upload_id are type-checked only when the proto parse
    # failed (_validate_param_against_schema), so only presence is enforced.
    "mlflow.artifacts.CreateMultipartUpload": {"path": _non_empty("_create_multipart_upload_artifact")},
    "mlflow.artifacts.CompleteMultipartUpload": {
        "path": _non_empty("_complete_multipart_upload_artifact"),
        "parts": _present("_complete_multipart_upload_artifact"),
    },
    "mlflow.artifacts.AbortMultipartUpload": {"path": _non_empty("_abort_multipart_upload_artifact")},
}

# Whole-message rules: JSON Schema keywords added to a request body's object schema.
# A null run_id is absent (ParseDict), so the handler falls back to run_uuid: measured 200 for
# {"run_id": null, "run_uuid": <id>, ...}; only a string counts as given.
_ID_OR_UUID: Final[Mapping[str, Any]] = {
    "anyOf": [
        {"required": ["run_id"], "properties": {"run_id": {"type": "string"}}},
        {"required": ["run_uuid"], "properties": {"run_uuid": {"type": "string", "minLength": 1}}},
    ],
}
MESSAGE_RULES: Final[Mapping[str, Mapping[str, Any]]] = {
    "mlflow.LogParam": _ID_OR_UUID,
    # entities.Metric: dataset_name and dataset_digest come together (_DATASET_PAIR).
    "mlflow.LogMetric": {**_ID_OR_UUID, **_DATASET_TOGETHER},
    "mlflow.SetTag": _ID_OR_UUID,
    "mlflow.UpdateRun": _ID_OR_UUID,
}
