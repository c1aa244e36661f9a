"""Every package folder is listed in pyproject.toml, and the public surface is what it says."""

from __future__ import annotations

import tomllib
from pathlib import Path

import hokusai_contracts

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_installed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for base, name in ((ROOT / "src", None), (ROOT / "mocks", "hokusai_mocks")):
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            found.add(".".join((name, *parts) if name else parts))
    assert found == listed


def test_exported_members() -> None:
    for name in hokusai_contracts.__all__:
        assert hasattr(hokusai_contracts, name)
