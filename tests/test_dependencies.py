"""Every third-party module the code imports is declared in pyproject.toml, and pinned in the lock.

An import that works only because another dependency happens to pull its package in breaks the day
that dependency drops it (a fresh install then fails at run time, not at install time). The
declared list is read from pyproject.toml, so a dependency a branch adds is seen as soon as it is
declared. Import names map to distributions through importlib.metadata (``yaml`` -> PyYAML,
``google`` -> protobuf).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
#: Where the imports are read: the installed packages (runtime or the dev extra) and the tests (dev).
SOURCES = ("src", "mocks", "tests")
#: This project's own packages, and the test tree (imported as ``tests.*``).
FIRST_PARTY = frozenset({"hokusai_contracts", "hokusai_mlflow_openapi", "hokusai_mocks", "tests"})
#: Declared, yet never imported: each one is used another way, and says how.
USED_WITHOUT_IMPORT = {
    "build": "`make dist` and tests/packaging/test_wheel.py run `python -m build`",
    "check-jsonschema": "tests/packaging/test_action.py runs its executable on action.yml",
    "dask": "distributed's core, pinned with it; its `dask` command runs `dask scheduler` / `dask worker`",
    "import-linter": "`make test` runs `lint-imports`",
    "moto": "tests/traffic/test_sources.py runs its `moto_server` (S3 on loopback)",
    "mypy": "`make test` / `make typecheck` run it",
    "pytest-timeout": "a pytest plugin: the `timeout` in [tool.pytest.ini_options]",
    "pytest-xdist": "a pytest plugin: `make test` runs `pytest -n`",
    "ruff": "`make test` / `make lint` run it",
    "types-pyyaml": "type stubs for mypy",
    "flask-cors": "moto's S3 server imports it (stack/s3_server.py: ARTIFACT_STORE=s3); moto[s3] does not declare it",
    "psycopg2-binary": "MLflow's PostgreSQL driver (BACKEND_STORE=postgresql): the store URI names psycopg2",
    "pgserver": "the postgres extra: stack/postgres.py runs the initdb and postgres its wheel ships (not imported)",
}


def _imported_modules(root: Path) -> dict[str, set[str]]:
    """Top-level module -> the files importing it (absolute imports only; relative ones are the package's own)."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


@cache
def third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for source in SOURCES:
        for module, files in _imported_modules(ROOT / source).items():
            if module not in sys.stdlib_module_names and module not in FIRST_PARTY:
                found.setdefault(module, set()).update(files)
    return found


@cache
def declared() -> frozenset[str]:
    """Every distribution pyproject.toml declares, runtime and extras, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project.get("optional-dependencies", {}).values() for r in extra)]
    return frozenset(canonicalize_name(Requirement(r).name) for r in requirements)


@cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # reads every installed distribution's RECORD


def distributions_of(module: str) -> set[str]:
    return {canonicalize_name(d) for d in _packages_distributions().get(module, [])}


def test_the_reader_sees_what_it_must() -> None:
    # Not vacuous: the walk finds imports inside functions, and the mapping knows import names.
    imports = third_party_imports()
    assert {"httpx", "yaml", "mlflow", "skops", "google"} <= set(imports)
    assert distributions_of("yaml") == {"pyyaml"} and "protobuf" in distributions_of("google")
    assert {"httpx", "pyyaml", "respx"} <= declared()


def test_every_imported_third_party_module_is_declared() -> None:
    undeclared = {module: sorted(files)[:3] for module, files in sorted(third_party_imports().items())
                  if not distributions_of(module) & declared()}
    assert undeclared == {}, ("imported but not declared in pyproject.toml (add the distribution to "
                              "[project] dependencies, or to the dev extra if only tests import it)")


def test_every_declared_distribution_is_imported_or_says_how_it_is_used() -> None:
    imported = {dist for module in third_party_imports() for dist in distributions_of(module)}
    unused = sorted(declared() - imported - set(USED_WITHOUT_IMPORT))
    assert unused == [], "declared but never imported: remove it, or add it to USED_WITHOUT_IMPORT with how it is used"
    assert set(USED_WITHOUT_IMPORT) <= declared(), "USED_WITHOUT_IMPORT names a distribution no longer declared"


@pytest.mark.parametrize("name", sorted(declared()))
def test_every_declared_distribution_is_pinned_in_the_lock(name: str) -> None:
    pinned = {canonicalize_name(m.group(1)): m.group(2)
              for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (ROOT / "constraints.txt").read_text("utf-8"),
                                   re.MULTILINE)}
    assert name in pinned, f"{name} is declared but not pinned in constraints.txt: add {name}==<installed version>"
