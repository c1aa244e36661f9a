"""The built wheel, installed into a fresh venv, used where users work: outside this checkout.

One module-scoped install (build sdist and wheel, as `make dist` does; a venv with the pinned
constraints); then from a temporary directory: `spec-check` on the example candidates, the
`--contracts-dir` override, the data the other commands read, and a pytest project of its own that
uses the plugin's `hokusai_stack` against the reference proxy and fails one test to show what
`pytest -vv -l` prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "contracts" / "examples"

# network: `python -m build` fetches its build backend, and the fresh venv installs the pinned
# dependencies, from the package registry.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.network]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    build_log: str
    venv: Path
    work: Path  # an empty directory outside the checkout

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        return {**env, "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}"}

    def run(self, *argv: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=cwd or self.work, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.is_relative_to(ROOT)
    started = time.perf_counter()
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(base / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel, sdist = next((base / "dist").glob("*.whl")), next((base / "dist").glob("*.tar.gz"))
    built_s = time.perf_counter() - started
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # This venv's pip installs into the new one (--python): the pinned versions, no byte-compiling.
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
         "--disable-pip-version-check", "--no-compile", "-c", str(ROOT / "constraints.txt"), str(wheel)],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    print(f"\nwheel test: build {built_s:.1f} s, install {time.perf_counter() - started - built_s:.1f} s")
    work = base / "work"
    work.mkdir()
    return Installed(wheel, sdist, built.stdout + built.stderr, venv, work)


def test_the_wheel_lists_the_package_data_and_the_build_warns_of_no_license(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    contracts = {p.relative_to(ROOT / "contracts").as_posix() for p in (ROOT / "contracts").rglob("*.yaml")}
    assert {f"hokusai_contracts/_data/contracts/{c}" for c in contracts} <= names
    assert {"hokusai_mocks/fake_auth/keys.yaml", "hokusai_contracts/checks/suites/pytest.ini",
            "hokusai_contracts/py.typed"} <= names
    record = next(n for n in names if n.endswith(".dist-info/RECORD"))
    listed = zipfile.ZipFile(installed.wheel).read(record).decode()
    assert "hokusai_contracts/_data/contracts/auth-service.yaml," in listed
    metadata = zipfile.ZipFile(installed.wheel).read(record.replace("RECORD", "METADATA")).decode()
    assert "License-Expression: LicenseRef-Proprietary" in metadata
    assert "project.license" not in installed.build_log  # setuptools' deprecation warning of the TOML table
    with tarfile.open(installed.sdist) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {f"contracts/{c}" for c in contracts} <= members  # a wheel built from the sdist has them too


def test_the_installed_package_is_the_wheels_and_prints_its_version(installed: Installed) -> None:
    where = installed.run(str(installed.bin / "python"), "-c",
                          "import hokusai_contracts, sys; print(hokusai_contracts.__file__); "
                          "print(hokusai_contracts.__version__)")
    location, version = where.stdout.split()
    assert Path(location).is_relative_to(installed.venv), where.stdout
    assert installed.run("hokusai-contracts", "--version").stdout.strip() == f"hokusai-contracts {version}"


@pytest.mark.parametrize(("example", "code"), [("compatible-new-optional-field", 0),
                                               ("incident-1-key-in-header", 1), ("narrowed-service-id", 1)])
def test_spec_check_from_anywhere(installed: Installed, example: str, code: int) -> None:
    candidate = installed.work / f"{example}.yaml"
    shutil.copyfile(EXAMPLES / f"{example}.yaml", candidate)
    ran = installed.run("hokusai-contracts", "spec-check", candidate.name, "--no-dynamic", "--report-dir",
                        f"reports-{example}")
    assert ran.returncode == code, ran.stdout + ran.stderr
    assert f"{candidate.resolve()} against contracts/auth-service.yaml" in ran.stdout
    report = json.loads((installed.work / f"reports-{example}" / "spec-changes.json").read_text())
    cited = {change["current"]["file"] for change in report if change.get("current")}
    assert cited <= {"contracts/auth-service.yaml"}, report  # the pointers read contracts/<file>
    assert cited or not code


def test_spec_check_refuses_a_malformed_candidate_with_exit_2(installed: Installed) -> None:
    (installed.work / "broken.yaml").write_text("openapi: 3.0.3\ninfo: [\n")
    ran = installed.run("hokusai-contracts", "spec-check", "broken.yaml", "--no-dynamic")
    assert ran.returncode == 2
    assert "broken.yaml:" in ran.stderr and "not valid YAML" in ran.stderr and "Traceback" not in ran.stderr


def test_contracts_dir_gives_a_teams_own_copy(installed: Installed) -> None:
    own = installed.work / "team-contracts"
    shutil.copytree(ROOT / "contracts", own, ignore=shutil.ignore_patterns("examples"))
    shutil.copyfile(EXAMPLES / "narrowed-service-id.yaml", own / "auth-service.yaml")
    ran = installed.run("hokusai-contracts", "spec-check", str(EXAMPLES / "narrowed-service-id.yaml"),
                        "--no-dynamic", "--report-dir", "reports-own", "--contracts-dir", "team-contracts")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "against team-contracts/auth-service.yaml" in ran.stdout


def test_the_data_the_stack_and_the_live_run_read_is_installed(installed: Installed) -> None:
    """What `local` and `live` load before anything starts: every contract, the deviations, the seed file."""
    script = """
from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.spec.consumers import load_consumers
from hokusai_contracts.stack.definition import StackDefinition
root = files.contracts_root()
for name in ("auth-service.yaml", "mlflow.yaml", "mlflow-proxy.yaml"):
    print(Contract.load(files.contracts_dir() / name, root).display_path)
KnownDeviations.load(files.contracts_dir() / "known-deviations.yaml", root=root)
print(len(load_consumers(files.contracts_dir() / "consumers", root)))
print(StackDefinition().seed_file)
"""
    ran = installed.run(str(installed.bin / "python"), "-c", script)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.split()
    assert lines[:3] == ["contracts/auth-service.yaml", "contracts/mlflow.yaml", "contracts/mlflow-proxy.yaml"]
    assert int(lines[3]) >= 1
    assert Path(lines[4]).is_relative_to(installed.venv) and Path(lines[4]).name == "keys.yaml"


PLUGIN_PROJECT = '''
import json
from pathlib import Path

import httpx


def test_the_proxy_answers_with_the_seeded_key(hokusai_stack):
    endpoints = hokusai_stack.endpoints
    answer = httpx.get(endpoints.proxy_url + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                       headers={"Authorization": f"Bearer {endpoints.api_key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert "experiments" in answer.json()


def test_a_failure_shows_the_endpoints_masked(hokusai_stack):
    endpoints = hokusai_stack.endpoints
    key, admin = endpoints.api_key, endpoints.admin_token
    seeded = [entry["key"] for entry in endpoints.keys.values()]
    Path("secrets.json").write_text(json.dumps({"key": key, "admin": admin, "seeded": seeded}))
    headers = {"Authorization": f"Bearer {key}"}
    assert key == admin, f"key {key} is not the admin token {admin}"
'''


def test_the_pytest_plugin_in_another_repository(installed: Installed) -> None:
    project = installed.work / "their-repo"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_their_proxy.py").write_text(PLUGIN_PROJECT)
    proxy = (f"{installed.bin / 'python'} -m hokusai_mocks.reference_proxy --host 127.0.0.1 --port {{port}} "
             "--auth-url {auth_url} --mlflow-url {mlflow_url} --service-id {service_id}")
    ran = installed.run(str(installed.bin / "python"), "-m", "pytest", "-vv", "-l", "-p", "no:cacheprovider",
                        "--hokusai-proxy-cmd", proxy, timeout=300, cwd=project)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 1, output
    assert "1 failed, 1 passed" in output
    assert "test_the_proxy_answers_with_the_seeded_key PASSED" in output
    secrets = json.loads((project / "secrets.json").read_text())
    # The endpoints are shown (pytest -l prints the locals), every secret masked.
    assert re.search(r"proxy_url='http://127\.0\.0\.1:\d+/api/mlflow'", output), output
    assert f"api_key='{secrets['key'][:10]}...{secrets['key'][-4:]}'" in output
    for secret in (secrets["key"], secrets["admin"], *secrets["seeded"]):
        assert secret not in output
    assert not re.search(r"hk_(live|test)_[A-Za-z0-9]{32}", output)
    # The short summary stays the crash message, masked too.
    assert re.search(r"FAILED test_their_proxy\.py::test_a_failure_shows_the_endpoints_masked - AssertionError: "
                     r"key hk_live_\w{2}\.\.\.\w{4} is not", output), output
