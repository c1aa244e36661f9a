"""Which contracts describe an MLflow version: committed and reviewed, or generated on demand.

- The pinned version: ``contracts/mlflow.yaml`` and ``contracts/mlflow-proxy.yaml``, where they
  always were (``make contracts``). They are not copied under ``contracts/mlflow/<pinned>/``: one
  file per fact, and every existing reader keeps its path.
- The versions the platform ran: ``contracts/mlflow/<version>/{mlflow.yaml,mlflow-proxy.yaml}``,
  committed and drift-checked like the pinned pair (``make contracts MLFLOW_VERSION=<version>``
  regenerates them from that version's protos, in that version's environment).
- Any other version: generated from its protos on first use into
  ``<cache>/contracts/mlflow-<version>/`` and reused while the generator and the overlay are
  unchanged. Its deviations have not been reviewed (``reviewed`` is False), and a report that uses
  it must say so.

Every pair has the same proxy overlay (``contracts/mlflow-proxy.overlay.yaml``): what the proxy
adds does not depend on the MLflow behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from packaging.version import InvalidVersion, Version

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.files import contracts_dir
from hokusai_contracts.stack.mlflow_env import (
    cache_root,
    check_version,
    locked,
    mlflow_environment,
    pinned_version,
)

__all__ = ["MlflowContracts", "committed_versions", "mlflow_contracts", "regenerate_contracts", "versions_dir"]

_MLFLOW, _PROXY, _OVERLAY = "mlflow.yaml", "mlflow-proxy.yaml", "mlflow-proxy.overlay.yaml"
_STAMP = "generated-by.json"


class MlflowContracts(NamedTuple):
    mlflow: Path
    proxy: Path
    #: Committed, drift-checked and run against that version's server: its deviations were reviewed.
    reviewed: bool


def versions_dir() -> Path:
    """One folder per committed version other than the pinned one (``contracts/mlflow/``)."""
    return contracts_dir() / "mlflow"


def committed_versions() -> list[str]:
    """The pinned version and every version with a committed pair, oldest first."""
    found = {pinned_version()}
    if versions_dir().is_dir():
        for folder in versions_dir().iterdir():
            if (folder / _MLFLOW).is_file() and (folder / _PROXY).is_file() and _is_version(folder.name):
                found.add(folder.name)
    return sorted(found, key=Version)


def mlflow_contracts(version: str | None, setting: str = "MLFLOW_VERSION",
                     out: Callable[[str], None] | None = None) -> MlflowContracts:
    """The contracts of ``version`` (None: the pinned one); generated into the cache if none is committed."""
    if version is None or not version.strip() or check_version(version, setting) == pinned_version():
        return MlflowContracts(contracts_dir() / _MLFLOW, contracts_dir() / _PROXY, reviewed=True)
    version = check_version(version, setting)
    committed = versions_dir() / version
    if (committed / _MLFLOW).is_file() and (committed / _PROXY).is_file():
        return MlflowContracts(committed / _MLFLOW, committed / _PROXY, reviewed=True)
    return _generated(version, setting, out)


def regenerate_contracts(version: str | None, check: bool = False,
                         out: Callable[[str], None] | None = None) -> list[str]:
    """``make contracts [MLFLOW_VERSION=...]``: write (or, with ``check``, compare) a committed pair.

    Returns the lines to print: the files written, or every drift found (empty: none).
    """
    from hokusai_mlflow_openapi.generate import check_drift, generate_contracts

    pinned = version is None or not version.strip() or check_version(version) == pinned_version()
    if pinned:
        target, python, command = contracts_dir(), None, "make contracts"
    else:
        version = check_version(str(version))
        target, command = versions_dir() / version, f"make contracts MLFLOW_VERSION={version}"
        python = mlflow_environment(version, out=out).python
    overlay = contracts_dir() / _OVERLAY
    try:
        if check:
            return check_drift(target, overlay, python, regenerate=command)
        return [f"wrote {path}" for path in generate_contracts(target, overlay, python)]
    except (LookupError, ValueError, OSError) as exc:
        raise UsageError(f"cannot generate the contracts of MLflow {version or pinned_version()}: {exc}") from None


# -- on demand ----------------------------------------------------------------------------------


def _generated(version: str, setting: str, out: Callable[[str], None] | None) -> MlflowContracts:
    from hokusai_mlflow_openapi.generate import generate_contracts

    root = cache_root() / "contracts"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"mlflow-{version}"
    stamp = {"mlflow": version, "generator": _generator_digest()}
    with locked(root / f"mlflow-{version}.lock"):
        if _read_stamp(folder) != stamp:
            python = mlflow_environment(version, setting, out).python
            if out is not None:
                out(f"Generating the contracts of MLflow {version} from its protos into {folder} (not reviewed)...")
            building = Path(tempfile.mkdtemp(prefix=f".{folder.name}-building-", dir=root))
            try:
                generate_contracts(building, contracts_dir() / _OVERLAY, python)
                (building / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n", "utf-8")
                if folder.exists():
                    shutil.rmtree(folder)
                os.rename(building, folder)
            except (LookupError, ValueError, OSError) as exc:
                raise UsageError(f"{setting}={version}: cannot generate the contracts of MLflow {version} from its "
                                 f"protos ({exc})") from None
            finally:
                shutil.rmtree(building, ignore_errors=True)
    return MlflowContracts(folder / _MLFLOW, folder / _PROXY, reviewed=False)


def _generator_digest() -> str:
    """What a generated pair depends on besides the version: the generator's code and the overlay."""
    import hokusai_mlflow_openapi

    digest = hashlib.sha256()
    package = Path(hokusai_mlflow_openapi.__file__).resolve().parent
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    digest.update((contracts_dir() / _OVERLAY).read_bytes())
    return digest.hexdigest()


def _read_stamp(folder: Path) -> object:
    try:
        return json.loads((folder / _STAMP).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _is_version(name: str) -> bool:
    try:
        Version(name)
    except InvalidVersion:
        return False
    return True
