"""The MLflow side's contract as the stack runs it: MLflow's, under a prefix, with an overlay's security.

MLflow's generated contract says what ``mlflow server`` answers. What stands in front of it in a
deployment can add to that: a static prefix (``MLFLOW_PREFIX``, production's ``/mlflow``) and a
gateway's rules (``MLFLOW_OVERLAY``: production's admin gateway is
``contracts/mlflow-gateway.overlay.yaml``): the security every operation requires, the statuses the
gateway answers itself, the operations it leaves open. The receiver's contract decides what may
arrive on a hop, so the proxy->mlflow journal and the direct checks are judged by the result.

An overlay has the shape of ``mlflow-proxy.overlay.yaml``, and one definition of how it merges:
``hokusai_mlflow_openapi.overlay.merge_overlay``, which ``make contracts`` applies at build time
(``x-apply-to-all-operations`` is deep-merged into every operation, the rest over the document;
mappings merge key by key, anything else replaces, ``null`` deletes). The runtime imports only that
pure module of the generator (the import rules name it). An overlay applies to a contract only if
every path it names is one of the contract's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts._credentials import required_here
from hokusai_contracts.contracts._source import check_document
from hokusai_contracts.contracts.loading import Contract
from hokusai_mlflow_openapi.overlay import APPLY_TO_ALL_OPERATIONS, merge_overlay

__all__ = ["apply_overlay", "key_required_at", "load_overlay", "mlflow_side", "requires_credentials",
           "with_server_prefix"]

_APPLY_TO_ALL = APPLY_TO_ALL_OPERATIONS


def load_overlay(path: Path, setting: str = "MLFLOW_OVERLAY") -> dict[str, Any]:
    """Read an overlay file; a UsageError naming the setting and the file for one that cannot be used."""
    try:
        document = yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{setting}: cannot read the overlay {path} ({getattr(exc, 'strerror', None) or exc}); "
                         "point it at a YAML file such as contracts/mlflow-gateway.overlay.yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UsageError(f"{setting}: the overlay {path} is not valid YAML{where} "
                         f"({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get(_APPLY_TO_ALL, {}), dict):
        raise UsageError(f"{setting}: the overlay {path} must be a mapping of OpenAPI additions (with "
                         f"{_APPLY_TO_ALL} a mapping of operation fields)")
    return document


def apply_overlay(contract: Contract, overlay: Mapping[str, Any], source: str,
                  setting: str = "MLFLOW_OVERLAY") -> Contract:
    """``contract`` with ``overlay`` merged in; a UsageError if it names paths the contract lacks or breaks it."""
    paths = contract.document.get("paths") or {}
    foreign = sorted(set(overlay.get("paths") or {}) - set(paths))
    if foreign:
        raise UsageError(f"{setting}: the overlay {source} does not apply to {contract.display_path}: it names "
                         f"{', '.join(foreign[:3])}, which that contract does not declare")
    document = merge_overlay(contract.document, overlay)
    display = f"{contract.display_path} + {source}"
    try:
        check_document(document, display, {})
    except Exception as exc:  # noqa: BLE001 - any reason the merged document is no longer a contract
        raise UsageError(f"{setting}: the overlay {source} does not apply to {contract.display_path}: "
                         f"{str(exc).splitlines()[0]}") from None
    return contract.derived(document, display)


def with_server_prefix(contract: Contract, prefix: str) -> Contract:
    """``contract`` with ``prefix`` as a server path, so requests under it match its operations."""
    if not prefix or prefix in contract.server_prefixes:
        return contract
    document = copy.deepcopy(contract.document)
    document["servers"] = [*(document.get("servers") or []), {"url": prefix, "description": "MLFLOW_PREFIX"}]
    return contract.derived(document)


def requires_credentials(contract: Contract) -> bool:
    """Whether most of the contract's operations require a credential (a gateway's MLflow, not a bare one)."""
    secured = [op for op in contract.operations if op.security and all(op.security)]
    return len(secured) * 2 > len(contract.operations)


def mlflow_side(contract: Contract, prefix: str = "", overlay: Path | None = None,
                root: Path | None = None) -> Contract:
    """MLflow's contract as the run's MLflow side answers it: under ``prefix``, with ``overlay`` applied."""
    if overlay is not None:
        shown = overlay.relative_to(root).as_posix() if root and overlay.is_relative_to(root) else str(overlay)
        contract = apply_overlay(contract, load_overlay(overlay), shown)
    return with_server_prefix(contract, prefix)


def key_required_at(contract: Contract, method: str, path: str, header: str) -> bool:
    """Whether ``contract`` requires a credential in ``header`` of this request (a gateway's security).

    The live gate asks it before a key goes to MLflow directly: only where the contract wants it.
    """
    found = contract.match(method, path)
    return found is not None and required_here(contract, found.operation, f"header.{header}")
