"""What pyproject.toml ships, and where the installed package finds its data.

The wheel itself (built, installed into a fresh venv, used from outside the checkout) is tested in
tests/packaging/test_wheel.py; these are the fast checks of the configuration behind it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import hokusai_contracts
from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.loading import Contract

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
DATA_PACKAGE = "hokusai_contracts._data.contracts"


def test_every_package_folder_is_installed() -> None:
    """Code packages as found by their __init__.py; the contracts folder and each subfolder as data packages."""
    listed = set(SETUPTOOLS["packages"])
    found = set()
    for base, name in ((ROOT / "src", None), (ROOT / "mocks", "hokusai_mocks")):
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            found.add(".".join((name, *parts) if name else parts))
    contracts = ROOT / "contracts"
    for folder in data_packages(contracts):
        found.add(".".join((DATA_PACKAGE, *folder.relative_to(contracts).parts)))
    assert found == listed


def data_packages(contracts: Path) -> list[Path]:
    """The contracts folder and its subfolders, but contracts/mlflow/<version>/: data of contracts/mlflow."""
    return [contracts, *(p for p in contracts.rglob("*") if p.is_dir() and p.parent != contracts / "mlflow")]


def test_the_contracts_folder_is_mapped_into_the_package_with_all_its_files() -> None:
    assert SETUPTOOLS["package-dir"][DATA_PACKAGE] == "contracts"
    data = SETUPTOOLS["package-data"]
    contracts = ROOT / "contracts"
    for folder in data_packages(contracts):
        package = ".".join((DATA_PACKAGE, *folder.relative_to(contracts).parts))
        shipped = {f for pattern in data.get(package, []) for f in folder.glob(pattern)}
        files_there = {f for f in folder.rglob("*") if f.is_file()} if folder.name == "mlflow" else \
            {f for f in folder.iterdir() if f.is_file()}
        assert shipped == files_there, f"{package}: package-data misses files"


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    assert isinstance(PYPROJECT["project"]["license"], str)
    requires = PYPROJECT["build-system"]["requires"]
    pin = next(r for r in requires if r.startswith("setuptools"))
    assert re.fullmatch(r"setuptools>=(\d+)", pin) and int(pin.split(">=")[1]) >= 77


def test_the_version_has_one_source_and_the_cli_prints_it() -> None:
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "hokusai_contracts._version.__version__"}
    assert metadata.version("hokusai-contracts") == hokusai_contracts.__version__
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "--version"], capture_output=True,
                               text=True, timeout=60)
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"hokusai-contracts {hokusai_contracts.__version__}"


def test_the_build_tools_are_pinned() -> None:
    pins = {line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line}
    for dev in PYPROJECT["project"]["optional-dependencies"]["dev"]:
        name = re.split(r"[<>=\[ ]", dev, maxsplit=1)[0].lower()
        assert name in pins or name.replace("-", "_") in pins, f"{name} is not pinned in constraints.txt"


def test_exported_members() -> None:
    for name in hokusai_contracts.__all__:
        assert hasattr(hokusai_contracts, name)


# -- where the data is found -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _installed_contracts() -> object:
    yield
    files.use_contracts_dir(None)


def test_an_editable_install_reads_the_checkouts_contracts_and_seed_file() -> None:
    assert files.contracts_dir() == ROOT / "contracts"
    assert files.contracts_root() == ROOT
    assert files.seed_file() == ROOT / "mocks" / "fake_auth" / "keys.yaml"


def test_findings_cite_contracts_slash_file() -> None:
    contract = Contract.load(files.contracts_dir() / "auth-service.yaml", files.contracts_root())
    assert contract.display_path == "contracts/auth-service.yaml"


def test_contracts_dir_overrides_and_display_paths_follow(tmp_path: Path) -> None:
    own = tmp_path / "team-contracts"
    own.mkdir()
    (own / "auth-service.yaml").write_bytes((ROOT / "contracts" / "auth-service.yaml").read_bytes())
    files.use_contracts_dir(own)
    assert files.contracts_dir() == own.resolve()
    contract = Contract.load(files.contracts_dir() / "auth-service.yaml", files.contracts_root())
    assert contract.display_path == "team-contracts/auth-service.yaml"
    files.use_contracts_dir(None)
    assert files.contracts_dir() == ROOT / "contracts"


def test_a_contracts_dir_that_is_not_a_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--contracts-dir .*: not a directory") as raised:
        files.use_contracts_dir(tmp_path / "missing")
    assert raised.value.exit_code == 2


def test_spec_check_reads_the_contracts_dir_given(tmp_path: Path) -> None:
    """The option reaches the reader: a copy whose current contract is the candidate has no changes."""
    own = tmp_path / "mine"
    shutil.copytree(ROOT / "contracts", own)  # a team's whole copy: every command validates all it may read
    candidate = ROOT / "contracts" / "examples" / "narrowed-service-id.yaml"
    (own / "auth-service.yaml").write_bytes(candidate.read_bytes())
    common = [sys.executable, "-m", "hokusai_contracts", "spec-check", str(candidate), "--no-dynamic"]
    changed = subprocess.run([*common, "--report-dir", str(tmp_path / "a")], capture_output=True, text=True,
                             timeout=120)
    same = subprocess.run([*common, "--report-dir", str(tmp_path / "b"), "--contracts-dir", str(own)],
                          capture_output=True, text=True, timeout=120)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert same.returncode == 0, same.stdout + same.stderr
    assert "against mine/auth-service.yaml" in same.stdout
