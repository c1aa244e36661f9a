"""Requests every run sends, whatever random generation draws: what real clients and attackers send.

Random fuzzing may or may not draw a path holding ``%2F`` or a control character, or a query
parameter given twice; a proxy that breaks on those must be found in every run, so these cases
are listed here and sent by the proxy suite as they are. Their answers are judged by the same
Schemathesis checks; what the proxy changed on the way to MLflow is judged from the hop journals
(``journal.transit``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from schemathesis import Case

from hokusai_contracts.checks.suites.schemas import EXCLUDED_PATH_REGEX

__all__ = ["ENCODED_PATH_VALUES", "encoded_path_cases", "repeated_query_cases"]

#: Path parameter values as they go on the wire (already percent-encoded): a slash inside a
#: segment, control characters, DEL, a space and a literal percent sign.
ENCODED_PATH_VALUES = ("contract-probe%2Fslash", "contract-probe%0Anewline", "contract-probe%00nul",
                       "contract-probe%1Fus", "contract-probe%7Fdel", "contract-probe%20space", "contract-probe%25pct")

#: Two values for each repeated query parameter the proxy contract declares whose items carry a
#: pattern no generic rule fills (an enum is filled from the enum itself).
_TWO_VALUES: dict[tuple[str, str], list[str]] = {
    ("/api/2.0/mlflow/experiments/search", "order_by"): ["name ASC", "creation_time DESC"],
    ("/api/2.0/mlflow/registered-models/search", "order_by"): ["name ASC", "last_updated_timestamp DESC"],
}
_PARAMETER = re.compile(r"{([^}]+)}")


def _operations(schema: Any, method: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in schema.raw_schema.get("paths", {}).items():
        if re.search(EXCLUDED_PATH_REGEX, path):
            continue  # the suites' exclusions hold for the cases every run sends too
        operation = methods.get(method)
        if isinstance(operation, dict) and operation.get("x-live-safe") and not operation.get("x-proxy-only"):
            yield path, operation


def encoded_path_cases(schema: Any) -> Iterator[Case[Any]]:
    """Every read with a path parameter, once for each value of ``ENCODED_PATH_VALUES``."""
    for path, _ in _operations(schema, "get"):
        names = _PARAMETER.findall(path)
        if not names:
            continue
        for value in ENCODED_PATH_VALUES:
            yield schema[path]["GET"].Case(path_parameters=dict.fromkeys(names, value))


def repeated_query_cases(schema: Any) -> Iterator[Case[Any]]:
    """Every read with an array query parameter, sent with it twice (``a=1&a=2``), values in order."""
    for path, operation in _operations(schema, "get"):
        query: dict[str, Any] = {}
        repeated = False
        for parameter in operation.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            spec = parameter.get("schema", {})
            items = spec.get("items", {})
            if spec.get("type") == "array" and (values := _TWO_VALUES.get((path, parameter["name"]))
                                                or list(items.get("enum", []))[:2]):
                query[parameter["name"]], repeated = values, True
            elif parameter.get("required"):
                query[parameter["name"]] = spec.get("default", 10 if spec.get("type") == "integer" else
                                                    "contract-probe")
        if repeated:
            yield schema[path]["GET"].Case(query=query)
