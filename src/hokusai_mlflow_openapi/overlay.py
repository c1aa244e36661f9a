"""Merging a hand-written overlay over a generated OpenAPI document.

The proxy contract is MLflow's generated contract plus what the proxy adds (servers, security, its
own statuses, its health endpoint). The overlay says only the additions, and this merge applies
them. The rules, in order:

1. ``x-apply-to-all-operations`` (a mapping, taken out of the overlay) is deep-merged into every
   operation of the *base* document (``paths.*.<method>``), so the overlay names the proxy's
   statuses once, not once per MLflow operation. The overlay's own paths do not receive it.
2. The rest of the overlay is deep-merged over the base:
   - two mappings merge key by key, recursively; keys keep the base's order, new keys follow in
     the overlay's order;
   - anything else (scalars, lists) in the overlay replaces the base's value: a list is a whole
     value (``servers``, ``required``, ``security``), never concatenated;
   - ``null`` in the overlay deletes the key from the result.

Neither input is modified. Determinism comes from the inputs' order; the caller sorts what needs it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["APPLY_TO_ALL_OPERATIONS", "HTTP_METHODS", "deep_merge", "merge_overlay"]

APPLY_TO_ALL_OPERATIONS: Final = "x-apply-to-all-operations"
HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base`` by rule 2 above; returns a new mapping."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_overlay(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The base OpenAPI document with ``overlay`` applied (rules 1 and 2 above)."""
    per_operation = overlay.get(APPLY_TO_ALL_OPERATIONS) or {}
    if not isinstance(per_operation, Mapping):
        raise TypeError(
            f"{APPLY_TO_ALL_OPERATIONS} must be a mapping of operation fields, e.g. "
            f"{{responses: {{'401': ...}}}}; got {type(per_operation).__name__}"
        )
    result = copy.deepcopy(dict(base))
    for path, item in (result.get("paths") or {}).items():
        for method, operation in list(item.items()):
            if method in HTTP_METHODS and isinstance(operation, Mapping):
                result["paths"][path][method] = deep_merge(operation, per_operation)
    rest = {k: v for k, v in overlay.items() if k != APPLY_TO_ALL_OPERATIONS}
    return deep_merge(result, rest)
