"""Contracts of MLflow versions the command needs: regenerated, drift-checked, or generated on demand.

The commands are the only layer that runs the generator (``hokusai_mlflow_openapi``): in the
project's own environment for the pinned version, inside a version's cached environment
(``stack/mlflow_env.py``) for any other. Where each pair lives is ``contracts/mlflow_versions.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.files import contracts_dir
from hokusai_contracts.contracts.mlflow_versions import (
    GENERATED_STAMP,
    OVERLAY,
    MlflowContracts,
    check_version,
    generated_dir,
    generator_digest,
    known_contracts,
    pinned_version,
    versions_dir,
)
from hokusai_contracts.stack.mlflow_env import locked, mlflow_environment
from hokusai_mlflow_openapi.generate import check_drift, generate_contracts

__all__ = ["ensure_mlflow_contracts", "regenerate_contracts"]

Out = Callable[[str], None]


def regenerate_contracts(version: str | None, check: bool = False, out: Out | None = None) -> list[str]:
    """``make contracts [MLFLOW_VERSION=...]``: write (or, with ``check``, compare) a committed pair.

    Returns the lines to print: the files written, or every drift found (empty: none).
    """
    pinned = version is None or not version.strip() or check_version(version) == pinned_version()
    if pinned:
        target, python, command = contracts_dir(), None, "make contracts"
    else:
        version = check_version(str(version))
        target, command = versions_dir() / version, f"make contracts MLFLOW_VERSION={version}"
        python = mlflow_environment(version, out=out).python
    overlay = contracts_dir() / OVERLAY
    try:
        if check:
            return check_drift(target, overlay, python, regenerate=command)
        return [f"wrote {path}" for path in generate_contracts(target, overlay, python)]
    except (LookupError, ValueError, OSError) as exc:
        raise UsageError(f"cannot generate the contracts of MLflow {version or pinned_version()}: {exc}") from None


def ensure_mlflow_contracts(version: str | None, setting: str = "MLFLOW_VERSION",
                            out: Out | None = None) -> MlflowContracts:
    """The contracts of ``version``: committed, else generated from its protos into the cache (not reviewed)."""
    found = known_contracts(version, setting)
    if found is not None:
        return found
    version = check_version(str(version), setting)
    folder = generated_dir(version)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with locked(folder.parent / f"mlflow-{version}.lock"):
        found = known_contracts(version, setting)  # another run may have made it while we waited
        if found is not None:
            return found
        python = mlflow_environment(version, setting, out).python
        if out is not None:
            out(f"Generating the contracts of MLflow {version} from its protos into {folder} (not reviewed)...")
        building = Path(tempfile.mkdtemp(prefix=f".{folder.name}-building-", dir=folder.parent))
        try:
            generate_contracts(building, contracts_dir() / OVERLAY, python)
            stamp = {"mlflow": version, "generator": generator_digest()}
            (building / GENERATED_STAMP).write_text(json.dumps(stamp, indent=2) + "\n", "utf-8")
            if folder.exists():
                shutil.rmtree(folder)
            os.rename(building, folder)
        except (LookupError, ValueError, OSError) as exc:
            raise UsageError(f"{setting}={version}: cannot generate the contracts of MLflow {version} from its "
                             f"protos ({exc})") from None
        finally:
            shutil.rmtree(building, ignore_errors=True)
    found = known_contracts(version, setting)
    assert found is not None
    return found
