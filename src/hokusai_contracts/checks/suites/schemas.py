"""Loading a contract for Schemathesis, the same way for every suite."""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from schemathesis import Config

from hokusai_contracts.checks.suites.context import SuiteContext
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["CHECKS", "EXCLUDED_PATH_REGEX", "MODULES", "TARGETS", "load_schema", "schema_config"]

#: Each suite's pytest module (beside this file).
MODULES: dict[Suite, str] = {
    Suite.AUTH_SERVICE: "test_auth_service.py",
    Suite.MLFLOW_DIRECT: "test_mlflow_direct.py",
    Suite.PROXY: "test_proxy.py",
    Suite.STATEFUL: "test_stateful.py",
}
#: The hop each suite's requests cross and the contract they are judged against.
TARGETS: dict[Suite, tuple[Hop, str]] = {
    Suite.AUTH_SERVICE: (Hop.CLIENT_TO_AUTH, "auth-service.yaml"),
    Suite.MLFLOW_DIRECT: (Hop.CLIENT_TO_MLFLOW, "mlflow.yaml"),
    Suite.PROXY: (Hop.CLIENT_TO_PROXY, "mlflow-proxy.yaml"),
    Suite.STATEFUL: (Hop.CLIENT_TO_PROXY, "mlflow-proxy.yaml"),
}

#: The Schemathesis checks the suites run: the contract's promises, nothing about HTTP style.
#: (``unsupported_method`` and ``allow_header_conformance`` judge behaviour no contract here
#: states; ``positive_data_acceptance`` is what the generated MLflow contract cannot promise.)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
# Values MLflow parses with grammars or state no OpenAPI schema can express (search filters, page
# tokens, model sources): generated ones are rejected for reasons outside the contract.
FIXED_PARAMETERS = {
    "query.filter": "",
    "body.filter": "",
    "query.page_token": "",
    "body.page_token": "",
    "body.source": "s3://contract-tests/model",
}
#: Operations no suite calls: deletes are the scenario's (it deletes what it made, and the journals
#: judge those calls); a generated id may name what another suite is using at that moment ("0", the
#: default experiment, or a stateful run's model). Multipart upload and presigned download are the
#: multipart check's (a real client, judged on every hop by the journals): MLflow presigns as many part
#: URLs as a generated ``num_parts`` asks for (no bound in its handler), and on a local store every
#: answer is the designed 501 that ``not_a_server_error`` cannot tell from a fault.
EXCLUDED_PATH_REGEX = r"/delete$|/mlflow-artifacts/(?:mpu|presigned)/"
_OFF = ("positive_data_acceptance", "use_after_free", "ensure_resource_availability", "missing_required_header",
        "object_level_authorization", "unsupported_method", "allow_header_conformance")


_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def schema_config(max_examples: int, base_url: str, *, bearer: dict[str, str] | None = None,
                  positive_only: bool = False, live_safe_only: bool = False) -> dict[str, Any]:
    """The Schemathesis configuration of a suite (``schemathesis.toml``'s shape): one source for the
    suites and for ``make bench``'s plain ``schemathesis run`` of the same contract."""
    config: dict[str, Any] = {
        "base-url": base_url,
        "generation": {"max-examples": max_examples, **({"mode": "positive"} if positive_only else {})},
        "checks": {name: {"enabled": name in CHECKS} for name in (*CHECKS, *_OFF)},
        "parameters": FIXED_PARAMETERS,
        # Methods the contract does not declare are the unsupported_method check's business, which
        # is off: sending them would only cost time.
        # A live run has a request budget and a rate limit: the coverage phase's every-case sweep
        # would spend both on boundary values, so live runs keep to examples and fuzzing.
        "phases": {"coverage": {"unexpected-methods": [], **({"enabled": False} if live_safe_only else {})}},
        # Reproductions are redacted by us (keys masked); Schemathesis' own filter would also hide
        # page tokens and make the curl lines lie.
        "output": {"sanitization": {"enabled": False}},
    }
    if bearer:
        config["auth"] = {"openapi": {scheme: {"bearer": token} for scheme, token in bearer.items()}}
    return config


def load_schema(context: SuiteContext, contract_file: str, base_url: str, *,
                bearer: dict[str, str] | None = None, positive_only: bool = False, sharded: bool = True) -> Any:
    """A Schemathesis schema for ``contract_file``, aimed at ``base_url``.

    ``bearer`` maps security scheme names to the token Schemathesis should send for them.
    ``positive_only`` generates only requests the contract allows (see the proxy suite for why).
    ``sharded``: only this process's share of the operations (``SuiteContext.shard``), if the suite is split.
    """
    config = schema_config(context.max_examples, base_url, bearer=bearer, positive_only=positive_only,
                           live_safe_only=context.live_safe_only)
    schema: Any = schemathesis.openapi.from_path(context.contracts_dir / context.contract(contract_file),
                                                 config=Config.from_dict(config))
    schema = schema.exclude(path_regex=EXCLUDED_PATH_REGEX)
    if sharded and context.shards > 1:
        # Only this shard's operations are generated at all: every n-th of them in the contract's order.
        labels = [f"{method.upper()} {path}" for path, item in schema.raw_schema.get("paths", {}).items()
                  for method in item if method in _METHODS and not re.search(EXCLUDED_PATH_REGEX, path)]
        mine = set(labels[context.shard::context.shards])
        schema = schema.include(func=lambda ctx: f"{ctx.operation.method.upper()} {ctx.operation.path}" in mine)
    if context.live_safe_only:
        # Only operations their contract marks safe to call against production.
        schema = schema.include(func=lambda ctx: bool(ctx.operation.definition.raw.get("x-live-safe")))
    return schema
