"""Which contracts describe an MLflow version: committed and reviewed, or generated on demand.

- The pinned version: ``contracts/mlflow.yaml`` and ``contracts/mlflow-proxy.yaml``, where they
  always were (``make contracts``). They are not copied under ``contracts/mlflow/<pinned>/``: one
  file per fact, and every existing reader keeps its path.
- The versions the platform ran: ``contracts/mlflow/<version>/{mlflow.yaml,mlflow-proxy.yaml}``,
  committed and drift-checked like the pinned pair (``make contracts MLFLOW_VERSION=<version>``
  regenerates them from that version's protos, in that version's environment).
- Any other version: generated from its protos on first use into
  ``<cache>/contracts/mlflow-<version>/`` (by the command, ``commands/mlflow_contracts.py``: only
  commands run the generator) and reused while the generator and the overlay are unchanged. Its
  deviations have not been reviewed (``reviewed`` is False), and a report that uses it says so.

Every pair has the same proxy overlay (``contracts/mlflow-proxy.overlay.yaml``): what the proxy
adds does not depend on the MLflow behind it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from importlib import metadata
from pathlib import Path
from typing import Final, NamedTuple

from packaging.version import InvalidVersion, Version

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.files import contracts_dir
from hokusai_contracts.settings import cache_root

__all__ = ["GENERATED_STAMP", "MINIMUM_VERSION", "MlflowContracts", "check_version", "committed_contracts",
           "committed_versions", "generated_dir", "generator_digest", "is_version", "known_contracts", "parse_versions",
           "pinned_version", "versions_dir"]

# -- versions as users write them (MLFLOW_VERSION, MLFLOW_CLIENTS, mlflow-diff OLD NEW) -------------------

#: The stack's server flags (``--artifacts-destination`` by environment) and the generator's use of
#: the protos' rpc options hold from 2.0 on; 1.x is not supported.
MINIMUM_VERSION: Final = "2.0"


def pinned_version() -> str:
    """The MLflow of the project's own environment."""
    return metadata.version("mlflow")


def is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def check_version(text: str, setting: str = "MLFLOW_VERSION") -> str:
    """``text`` as a supported MLflow version, else a UsageError naming ``setting``."""
    value = text.strip().removeprefix("v")
    try:
        version = Version(value)
    except InvalidVersion:
        raise UsageError(f"{setting}={text!r} is not an MLflow version; write one such as 3.9.0") from None
    if version < Version(MINIMUM_VERSION):
        raise UsageError(f"{setting}={text}: MLflow versions before {MINIMUM_VERSION} are not supported; "
                         f"choose {MINIMUM_VERSION} or newer")
    return value


def parse_versions(text: str, setting: str = "MLFLOW_CLIENTS") -> list[str]:
    """A comma-separated list of versions, each checked, duplicates dropped (first one kept)."""
    versions = [check_version(item, setting) for item in text.split(",") if item.strip()]
    if not versions:
        raise UsageError(f"{setting} is empty; name one or more versions, e.g. {setting}=2.9.2,3.17.2")
    return list(dict.fromkeys(versions))


# -- where each version's contracts are -----------------------------------------------------------

MLFLOW, PROXY, OVERLAY = "mlflow.yaml", "mlflow-proxy.yaml", "mlflow-proxy.overlay.yaml"
#: Beside a pair generated on demand: which version and which generator made it.
GENERATED_STAMP = "generated-by.json"


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
            if (folder / MLFLOW).is_file() and (folder / PROXY).is_file() and is_version(folder.name):
                found.add(folder.name)
    return sorted(found, key=Version)


def committed_contracts(version: str | None, setting: str = "MLFLOW_VERSION") -> MlflowContracts | None:
    """The committed pair of ``version`` (None: the pinned one), or None when it has none."""
    if version is None or not version.strip() or check_version(version, setting) == pinned_version():
        return MlflowContracts(contracts_dir() / MLFLOW, contracts_dir() / PROXY, reviewed=True)
    folder = versions_dir() / check_version(version, setting)
    if (folder / MLFLOW).is_file() and (folder / PROXY).is_file():
        return MlflowContracts(folder / MLFLOW, folder / PROXY, reviewed=True)
    return None


def generated_dir(version: str) -> Path:
    return cache_root() / "contracts" / f"mlflow-{version}"


def generator_digest() -> str:
    """What a generated pair depends on besides the version: the generator's code and the overlay (read, not run)."""
    spec = importlib.util.find_spec("hokusai_mlflow_openapi")
    if spec is None or spec.origin is None:
        raise UsageError("the MLflow contract generator (hokusai_mlflow_openapi) is not installed; reinstall "
                         "hokusai-contracts")
    digest = hashlib.sha256()
    for source in sorted(Path(spec.origin).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    digest.update((contracts_dir() / OVERLAY).read_bytes())
    return digest.hexdigest()


def known_contracts(version: str | None, setting: str = "MLFLOW_VERSION") -> MlflowContracts | None:
    """The committed pair, else one generated earlier by this generator, else None (generate it first)."""
    committed = committed_contracts(version, setting)
    if committed is not None or version is None:
        return committed
    version = check_version(version, setting)
    folder = generated_dir(version)
    try:
        stamp = json.loads((folder / GENERATED_STAMP).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if stamp != {"mlflow": version, "generator": generator_digest()}:
        return None
    return MlflowContracts(folder / MLFLOW, folder / PROXY, reviewed=False)
