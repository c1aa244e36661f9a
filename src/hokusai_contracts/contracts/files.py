"""Where the data files are: the contracts folder and the fake auth service's seed file.

The checkout's top-level ``contracts/`` is the source of truth (the docs, ``make contracts`` and
every finding's pointer name ``contracts/<file>``). A wheel carries it as
``hokusai_contracts/_data/contracts`` (pyproject.toml maps the folder into the package), read with
``importlib.resources``; an editable install has no such folder and reads the checkout's, the one
the wheel is built from. Display paths are taken relative to the folder *above* the contracts
folder (``contracts_root``), so a finding cites ``contracts/auth-service.yaml`` in both cases.

A team that keeps its own copy passes ``--contracts-dir DIR``; the command line makes it the
process's choice with ``use_contracts_dir`` before any command runs, and every reader asks
``contracts_dir()``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hokusai_contracts._errors import UsageError

__all__ = ["CONTRACTS_DIR_HELP", "contracts_dir", "contracts_root", "packaged_contracts_dir", "profile_seed_file",
           "seed_file",
           "use_contracts_dir"]

CONTRACTS_DIR_HELP = ("read the contracts (auth-service.yaml, mlflow*.yaml, known-deviations.yaml, consumers/) "
                      "from DIR instead of the installed ones")
#: The file every contracts folder has: how a folder is told from a wrong guess.
_MARKER = "auth-service.yaml"

_chosen: Path | None = None


def use_contracts_dir(path: Path | None) -> None:
    """Make ``path`` the contracts folder of this process (None: back to the installed one)."""
    global _chosen
    if path is None:
        _chosen = None
        return
    if not path.is_dir():
        raise UsageError(f"--contracts-dir {path}: not a directory; give the folder that holds {_MARKER}, "
                         "or leave the option out to use the installed contracts")
    _chosen = path.resolve()


def contracts_dir() -> Path:
    """The contracts folder: ``--contracts-dir`` if given, else the installed one."""
    return _chosen if _chosen is not None else packaged_contracts_dir()


def contracts_root() -> Path:
    """The folder display paths are relative to: ``contracts/x.yaml`` reads as the files are laid out."""
    return contracts_dir().parent


def packaged_contracts_dir() -> Path:
    """The contracts this package was installed with (a wheel's copy, or an editable install's checkout)."""
    packaged = resources.files("hokusai_contracts").joinpath("_data", "contracts")
    if isinstance(packaged, Path) and (packaged / _MARKER).is_file():
        return packaged
    # src/hokusai_contracts/contracts/files.py -> the checkout's contracts/ (editable install, or a source tree).
    checkout = Path(__file__).resolve().parents[3] / "contracts"
    if (checkout / _MARKER).is_file():
        return checkout
    raise UsageError(f"the contracts are not installed with this package (looked in {packaged} and {checkout}); "
                     "reinstall hokusai-contracts from its wheel or checkout, or pass --contracts-dir DIR")


def seed_file() -> Path:
    """The fake auth service's default seed file (key descriptions, no secrets): hokusai_mocks' keys.yaml."""
    seed = resources.files("hokusai_mocks").joinpath("fake_auth", "keys.yaml")
    if not isinstance(seed, Path) or not seed.is_file():
        raise UsageError(f"the fake auth service's keys.yaml is not installed ({seed}); reinstall hokusai-contracts")
    return seed


def profile_seed_file(profile: str) -> Path:
    """The seed of a deployment profile (``production-keys.yaml`` beside keys.yaml in hokusai_mocks)."""
    seed = resources.files("hokusai_mocks").joinpath("fake_auth", f"{profile}-keys.yaml")
    if not isinstance(seed, Path) or not seed.is_file():
        raise UsageError(f"the {profile} profile's seed is not installed ({seed}); reinstall hokusai-contracts")
    return seed
