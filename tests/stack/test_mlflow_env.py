"""Per-version MLflow environments: the table, bad input, the cache, the lock, never a half-built one."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.stack import mlflow_env
from hokusai_contracts.stack.mlflow_env import (
    cache_root,
    check_version,
    explain_install_failure,
    mlflow_environment,
    parse_versions,
    pinned_version,
    requirements_for,
)

ROOT = Path(__file__).resolve().parents[2]

# What uv 0.13.9 printed (captured on this machine), one sample per kind of failure.
NO_SUCH_VERSION = """Using Python 3.11.7 environment at: uvt
error: No solution found when resolving dependencies
  cause: Because there is no version of mlflow==9.9.9 and you require mlflow==9.9.9, we can conclude that your \
requirements are unsatisfiable.
"""
UNREACHABLE = """Using Python 3.11.7 environment at: uvt
error: Request failed after 3 retries in 8.5s
  cause: Failed to fetch: http://127.0.0.1:9/simple/mlflow/
  cause: error sending request for url (http://127.0.0.1:9/simple/mlflow/)
  cause: tcp connect error
  cause: Connection refused (os error 111)
"""
BUILD_FAILED = """error: Failed to build `numpy==1.21.6`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("HOKUSAI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOKUSAI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


STORES = ("psycopg2-binary==2.9.13", "boto3==1.43.117")


@pytest.mark.parametrize(("version", "expected"), [
    ("2.9.2", ("mlflow==2.9.2", "setuptools<81", "sqlalchemy<2.1", *STORES, "scikit-learn==1.9.1")),
    ("3.4.0", ("mlflow==3.4.0", "sqlalchemy<2.1", *STORES, "scikit-learn==1.9.1")),
    ("3.9.0", ("mlflow==3.9.0", *STORES, "scikit-learn==1.9.1")),
    ("3.17.2", ("mlflow==3.17.2", *STORES, "scikit-learn==1.9.1")),
])
def test_requirements_by_version(version: str, expected: tuple[str, ...]) -> None:
    assert requirements_for(version) == expected


def test_every_rule_says_why() -> None:
    assert all(len(rule.reason) > 40 for rule in mlflow_env.COMPATIBILITY)


def test_the_scenarios_scikit_learn_is_the_projects_pin() -> None:
    locked = re.search(r"^scikit-learn==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert locked is not None
    assert f"scikit-learn=={locked.group(1)}" in requirements_for("3.9.0")


@pytest.mark.parametrize("name", ["psycopg2-binary", "boto3"])
def test_the_stores_drivers_are_the_projects_pins(name: str) -> None:
    locked = re.search(rf"^{name}==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert locked is not None
    assert f"{name}=={locked.group(1)}" in requirements_for("2.9.2")


@pytest.mark.parametrize(("text", "setting", "message"), [
    ("three", "MLFLOW_VERSION", "MLFLOW_VERSION='three' is not an MLflow version"),
    ("1.30.0", "MLFLOW_CLIENTS", "MLFLOW_CLIENTS=1.30.0: MLflow versions before 2.0 are not supported"),
])
def test_bad_versions_name_the_setting(text: str, setting: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        check_version(text, setting)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_versions_are_normalised_and_deduplicated() -> None:
    assert check_version(" v3.9.0 ") == "3.9.0"
    assert parse_versions("2.9.2, 3.4.0,,2.9.2") == ["2.9.2", "3.4.0"]
    with pytest.raises(UsageError, match="MLFLOW_CLIENTS is empty"):
        parse_versions(" , ")


@pytest.mark.parametrize(("stderr", "says"), [
    (NO_SUCH_VERSION, "MLFLOW_VERSION=9.9.9: there is no MLflow 9.9.9 on the package index"),
    (UNREACHABLE, "MLFLOW_VERSION=9.9.9: the package index cannot be reached"),
    (BUILD_FAILED, "MLFLOW_VERSION=9.9.9: MLflow 9.9.9 cannot be installed on Python"),
])
def test_install_failures_in_the_users_terms(stderr: str, says: str) -> None:
    message = explain_install_failure(stderr, "mlflow==9.9.9", "MLFLOW_VERSION")
    assert message.startswith(says)
    assert "\n" not in message


def test_cache_root_follows_the_setting_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_root() == tmp_path / "cache"
    monkeypatch.delenv("HOKUSAI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "hokusai-contracts"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "hokusai-contracts"


def test_the_pinned_version_needs_nothing_new(clean_env: Path) -> None:
    for asked in (None, "", pinned_version()):
        environment = mlflow_environment(asked)
        assert environment.pinned and environment.python == Path(sys.executable)
        assert Path(environment.mlflow).parent == Path(sys.executable).parent
    assert not clean_env.exists()  # no cache, no build


class FakeInstaller:
    """Stands in for uv: makes an environment whose python is this one (so the import check can run)."""

    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.calls = 0
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, target: Path, requirements: list[str], setting: str) -> str:
        with self.lock:
            self.calls += 1
        time.sleep(self.delay)
        (target / "bin").mkdir(parents=True)
        (target / "bin" / "python").symlink_to(sys.executable)
        (target / "bin" / "mlflow").write_text("#!/bin/sh\n")
        (target / "bin" / "mlflow").chmod(0o755)
        if self.fail:
            raise UsageError(f"{setting}: the installer failed half-way")
        return "fake"


@pytest.fixture
def installer(monkeypatch: pytest.MonkeyPatch) -> FakeInstaller:
    fake = FakeInstaller()
    monkeypatch.setattr(mlflow_env, "_install_with_uv", fake)
    monkeypatch.setattr(mlflow_env, "_check_imports", lambda target, version, setting: None)
    return fake


def test_built_once_then_reused(installer: FakeInstaller, clean_env: Path) -> None:
    first = mlflow_environment("3.9.0")
    second = mlflow_environment("3.9.0")
    assert installer.calls == 1
    assert first.prefix == second.prefix == clean_env / "mlflow-3.9.0"
    assert first.built_s > 0 and second.built_s == 0
    assert first.mlflow == str(clean_env / "mlflow-3.9.0" / "bin" / "mlflow")
    assert sorted(p.name for p in clean_env.iterdir()) == ["mlflow-3.9.0", "mlflow-3.9.0.lock"]


def test_a_failed_build_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, installer: FakeInstaller,
                                              clean_env: Path) -> None:
    installer.fail = True
    with pytest.raises(UsageError, match="half-way"):
        mlflow_environment("3.9.0", "MLFLOW_CLIENTS")
    assert sorted(p.name for p in clean_env.iterdir()) == ["mlflow-3.9.0.lock"]
    installer.fail = False
    assert mlflow_environment("3.9.0").prefix.is_dir()


def test_an_environment_without_its_record_or_from_an_older_table_is_rebuilt(
        monkeypatch: pytest.MonkeyPatch, installer: FakeInstaller, clean_env: Path) -> None:
    (clean_env / "mlflow-3.9.0" / "bin").mkdir(parents=True)  # what a half-finished manual copy looks like
    mlflow_environment("3.9.0")
    assert installer.calls == 1
    monkeypatch.setattr(mlflow_env, "COMPATIBILITY", (*mlflow_env.COMPATIBILITY,
                                                      mlflow_env.CompatRule(None, ("pyyaml<7",), "a new reason")))
    mlflow_environment("3.9.0")
    assert installer.calls == 2
    assert "pyyaml<7" in (clean_env / "mlflow-3.9.0" / "hokusai-env.json").read_text()
    assert [p.name for p in clean_env.iterdir() if p.name.startswith(".")] == []


def test_two_runs_at_once_build_one_environment(installer: FakeInstaller) -> None:
    installer.delay = 0.5
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(mlflow_environment("3.9.0").prefix)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert installer.calls == 1
    assert len(set(results)) == 1 and len(results) == 3


def test_pip_is_the_fallback_and_its_scripts_point_at_the_final_place(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target, final = tmp_path / "building", tmp_path / "final"
    seen: list[list[str]] = []

    def fake_run(argv: list[str], env: dict[str, str], setting: str, requirement: str) -> None:
        seen.append(list(argv))
        if argv[1:3] == ["-m", "venv"]:
            (target / "bin").mkdir(parents=True)
            (target / "bin" / "mlflow").write_text(f"#!{target}/bin/python\nimport sys\n")

    monkeypatch.setattr(mlflow_env, "_run", fake_run)
    assert mlflow_env._install_with_pip(target, final, ["mlflow==3.9.0"], "MLFLOW_VERSION") == "pip"
    assert seen[1][-2:] == ["--disable-pip-version-check", "mlflow==3.9.0"]
    assert (target / "bin" / "mlflow").read_text().startswith(f"#!{final}/bin/python\n")
