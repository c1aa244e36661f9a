"""Bad input refused before any work: the report directory, the contracts, the known deviations.

Every command calls these first, before a stack, a thread or a request starts, so that a
mistake costs seconds and one line (``UsageError``/``ContractError``: the file or variable, what
is wrong, what to do; exit 2), not a run's worth of minutes and a traceback. Nothing is left
behind: a report directory created here is removed again if the input turns out unusable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from hokusai_contracts._errors import ContractError, UsageError
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.spec.consumers import Consumer, load_consumers

__all__ = ["Inputs", "contracts_dir", "display_root", "load_inputs", "report_dir_ready"]

AUTH_CONTRACT = "auth-service.yaml"
MLFLOW_CONTRACT = "mlflow.yaml"
PROXY_CONTRACT = "mlflow-proxy.yaml"
OVERLAY = "mlflow-proxy.overlay.yaml"
DEVIATIONS = "known-deviations.yaml"
CONSUMERS = "consumers"
_WHERE = "choose a writable directory with REPORT_DIR=... (make) or --report-dir"


def contracts_dir() -> Path:
    """Where the contracts are (--contracts-dir, the installed package's copy, or the checkout's)."""
    return files.contracts_dir()


def display_root() -> Path:
    """What file names in reports are relative to (``contracts/auth-service.yaml``)."""
    return files.contracts_root()


@dataclass(frozen=True)
class Inputs:
    """The contract files of a run, loaded and validated."""

    directory: Path
    root: Path
    auth: Contract
    mlflow: Contract
    proxy: Contract
    deviations: KnownDeviations
    consumers: list[Consumer]

    @property
    def consumers_dir(self) -> Path:
        return self.directory / CONSUMERS


def load_inputs() -> Inputs:
    """Load every contract file a run reads; the first unusable one raises ``ContractError``."""
    directory = contracts_dir()
    root = directory.parent
    auth = Contract.load(directory / AUTH_CONTRACT, root=root)
    mlflow = Contract.load(directory / MLFLOW_CONTRACT, root=root)
    proxy = Contract.load(directory / PROXY_CONTRACT, root=root)
    _check_overlay(directory / OVERLAY, root)
    deviations = KnownDeviations.load(directory / DEVIATIONS, root=root)
    consumers = load_consumers(directory / CONSUMERS, root)
    return Inputs(directory, root, auth, mlflow, proxy, deviations, consumers)


def _check_overlay(path: Path, root: Path) -> None:
    """The overlay is read by ``make contracts`` only, but a broken one means a stale proxy contract."""
    display = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    hint = "Fix it, then run `make contracts` to regenerate contracts/mlflow-proxy.yaml."
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(display, f"cannot read the overlay ({exc})", hint=hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ContractError(display, f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                            line=mark.line + 1 if mark else None, hint=hint) from None
    if not isinstance(document, dict):
        raise ContractError(display, "not a mapping of OpenAPI additions", line=1, hint=hint)


@contextmanager
def report_dir_ready(path: Path) -> Iterator[Path]:
    """Make sure ``path`` is a writable directory for the whole block.

    Directories this creates are removed again (when empty) if the block raises, so that refused
    input leaves nothing behind.
    """
    created: list[Path] = []
    try:
        _make(path, created)
        _check_writable(path)
        yield path
    except BaseException:
        for directory in reversed(created):
            try:
                directory.rmdir()
            except OSError:
                break  # not empty: the run wrote something worth keeping
        raise


def _make(path: Path, created: list[Path]) -> None:
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir()
            created.append(directory)
        except FileExistsError:
            if not directory.is_dir():
                raise UsageError(f"REPORT_DIR {path}: {directory} is a file, not a directory; {_WHERE}") from None
        except OSError as exc:
            raise UsageError(f"REPORT_DIR {path}: cannot create it ({exc.strerror or exc}); {_WHERE}") from None
    if not path.is_dir():
        raise UsageError(f"REPORT_DIR {path}: a file is in the way, not a directory; {_WHERE}")


def _check_writable(path: Path) -> None:
    try:
        handle, name = tempfile.mkstemp(prefix=".hokusai-write-check-", dir=path)
    except OSError as exc:
        raise UsageError(f"REPORT_DIR {path}: not writable ({exc.strerror or exc}); {_WHERE}") from None
    os.close(handle)
    os.unlink(name)
