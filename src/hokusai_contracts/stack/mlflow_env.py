"""One cached virtual environment per MLflow version: the servers and clients a run may use.

The project's own venv holds the pinned MLflow, and a run that names no version uses it and
needs nothing else. Any other version (``MLFLOW_VERSION`` for the server, ``MLFLOW_CLIENTS`` for
the scenario's clients) gets an environment of its own under the cache directory
(``HOKUSAI_CACHE_DIR``, else ``$XDG_CACHE_HOME/hokusai-contracts``, else
``~/.cache/hokusai-contracts``), ``mlflow-<version>/``, built on first use from the package
registry and reused afterwards:

- with ``uv`` (a pinned dependency of this project; seconds from a warm uv cache), else with
  ``python -m venv`` and pip (tens of seconds);
- ``mlflow==<version>`` plus what that version needs to run here (``COMPATIBILITY``, one row per
  reason) and the scikit-learn the scenario trains with;
- under a lock per version, so two runs never build the same environment at once, and into a
  temporary directory renamed into place only once it imports: a half-built environment is never
  used. Its ``hokusai-env.json`` records what was asked for; when the table changes, the next
  use rebuilds it.

Bad input (not a version, older than the generator and the stack support, not on the registry,
a registry that cannot be reached, a version that does not install or import on this Python) is a
``UsageError`` naming the setting, raised before any part of the stack starts.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from hokusai_contracts._errors import StackError, UsageError
from hokusai_contracts.contracts.mlflow_versions import MINIMUM_VERSION, check_version, parse_versions, pinned_version
from hokusai_contracts.settings import cache_root

__all__ = ["COMPATIBILITY", "MINIMUM_VERSION", "CompatRule", "MlflowEnvironment", "cache_root", "check_version",
           "explain_install_failure", "locked", "mlflow_environment", "packages_digest", "parse_packages",
           "parse_versions", "pinned_version",
           "requirements_for"]

_MARKER: Final = "hokusai-env.json"
_INSTALL_TIMEOUT_S: Final = 900.0


@dataclass(frozen=True)
class CompatRule:
    """Requirements an MLflow version below ``below`` (every version if None) needs here, and why."""

    below: str | None
    requirements: tuple[str, ...]
    reason: str


COMPATIBILITY: Final[tuple[CompatRule, ...]] = (
    CompatRule("3.0", ("setuptools<81",),
               "MLflow 2.x imports pkg_resources at import time (mlflow/utils/requirements_utils.py); setuptools "
               "81 dropped it, and a uv venv has no setuptools at all"),
    CompatRule("3.9", ("sqlalchemy<2.1",),
               "mlflow/store/db/utils.py imports sqlalchemy.pool.FallbackAsyncAdaptedQueuePool, gone in SQLAlchemy "
               "2.1: 3.4.0 with 2.1.9 fails 'Error initializing backend store' (measured); 3.9.0 runs on 2.1"),
    CompatRule(None, ("psycopg2-binary==2.9.13", "boto3==1.43.117"),
               "production's stores (BACKEND_STORE=postgresql, ARTIFACT_STORE=s3): MLflow's image installs "
               "psycopg2-binary and boto3 beside it; the project's own pins (constraints.txt)"),
    CompatRule(None, ("scikit-learn==1.9.1",),
               "the scenario's models; the project's own pin (constraints.txt), which installs beside MLflow "
               "2.9's numpy<2 and pandas<3 (measured: 2.9.2, 3.4.0, 3.9.0 register and load models with it)"),
)


def requirements_for(version: str) -> tuple[str, ...]:
    """What is installed for ``version``: mlflow itself, then each rule's requirements that apply."""
    wanted = Version(version)
    extra = [req for rule in COMPATIBILITY if rule.below is None or wanted < Version(rule.below)
             for req in rule.requirements]
    return (f"mlflow=={version}", *extra)


@dataclass(frozen=True)
class MlflowEnvironment:
    """An environment with one MLflow version: where its interpreter and ``mlflow`` command are."""

    version: str
    prefix: Path
    pinned: bool
    #: Seconds spent building it in this call (0 when it was there already).
    built_s: float = 0.0

    @property
    def python(self) -> Path:
        return Path(sys.executable) if self.pinned else self.prefix / "bin" / "python"

    @property
    def mlflow(self) -> str:
        found = shutil.which("mlflow", path=str(self.python.parent))
        if found is None and self.pinned:
            found = shutil.which("mlflow")  # an install whose scripts went elsewhere on PATH
        if found is None:
            if self.pinned:
                raise StackError("MLflow is not installed in this environment. Run `make venv` (or "
                                 "`pip install -c constraints.txt -e .`) and try again.")
            raise UsageError(f"the MLflow {self.version} environment in {self.prefix} has no mlflow command; "
                             "delete that folder and run again to rebuild it")
        return found


def mlflow_environment(version: str | None, setting: str = "MLFLOW_VERSION",
                       out: Callable[[str], None] | None = None,
                       packages: Sequence[str] = ()) -> MlflowEnvironment:
    """The environment of ``version`` (None: the pinned one), built on first use.

    ``packages`` (MLFLOW_PACKAGES) are pip requirements added to it: such an environment is a cached
    one of its own, named by the version and a digest of the packages, even for the pinned version
    (the project's own environment is never changed).
    """
    pinned = pinned_version()
    if not packages and (version is None or not version.strip() or check_version(version, setting) == pinned):
        return MlflowEnvironment(pinned, Path(sys.prefix), pinned=True)
    version = pinned if version is None or not version.strip() else check_version(version, setting)
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the cache directory {root} ({exc.strerror}); set HOKUSAI_CACHE_DIR to a "
                         "writable folder") from None
    name = f"mlflow-{version}" + (f"-{packages_digest(packages)}" if packages else "")
    prefix = root / name
    wanted = [*requirements_for(version), *packages]
    with locked(root / f"{name}.lock"):
        if _recorded(prefix) == wanted:
            return MlflowEnvironment(version, prefix, pinned=False)
        if out is not None:
            out(f"Building the MLflow {version} environment in {prefix} (first use; reused afterwards)...")
        started = time.perf_counter()
        _build(version, prefix, wanted, setting)
        return MlflowEnvironment(version, prefix, pinned=False, built_s=time.perf_counter() - started)


def packages_digest(packages: Sequence[str]) -> str:
    """Eight hex digits naming a set of extra requirements (their order does not matter)."""
    return hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:8]


def parse_packages(text: str | None, setting: str = "MLFLOW_PACKAGES") -> tuple[str, ...]:
    """MLFLOW_PACKAGES (comma- or space-separated pip requirements); a UsageError for one pip cannot read."""
    items = tuple(item for item in re.split(r"[,\s]+", text or "") if item)
    for item in items:
        try:
            Requirement(item)
        except InvalidRequirement:
            raise UsageError(f"{setting}: {item!r} is not a pip requirement; write e.g. "
                             "psycopg2-binary,httpx,boto3==1.35.0") from None
        if Requirement(item).name.lower() == "mlflow":
            raise UsageError(f"{setting}: {item!r} names MLflow itself; choose its version with MLFLOW_VERSION")
    return items


# -- building --------------------------------------------------------------------------------


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if need be) for the block: one builder at a time."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        yield


def _recorded(prefix: Path) -> list[str] | None:
    try:
        return list(json.loads((prefix / _MARKER).read_text("utf-8"))["requirements"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _build(version: str, prefix: Path, requirements: list[str], setting: str) -> None:
    building = Path(tempfile.mkdtemp(prefix=f".{prefix.name}-building-", dir=prefix.parent))
    try:
        installer = _install_with_uv(building, requirements, setting) or _install_with_pip(
            building, prefix, requirements, setting)
        _check_imports(building, version, setting)
        (building / _MARKER).write_text(json.dumps({
            "mlflow": version, "requirements": requirements, "installer": installer,
            "python": platform.python_version()}, indent=2) + "\n", "utf-8")
        if prefix.exists():  # an environment built from an older table: replaced whole
            stale = Path(tempfile.mkdtemp(prefix=f".{prefix.name}-stale-", dir=prefix.parent))
            os.rename(prefix, stale / "env")
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(building, prefix)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


def _uv() -> str | None:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _install_with_uv(target: Path, requirements: list[str], setting: str) -> str | None:
    uv = _uv()
    if uv is None:
        return None
    # Relocatable: the entry points find their interpreter relative to themselves, so the
    # environment still works once renamed from its build directory into place.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    _run([uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(target)], env, setting,
         requirements[0])
    _run([uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python"), *requirements], env, setting,
         requirements[0])
    return "uv " + subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.split()[1]


def _install_with_pip(target: Path, final: Path, requirements: list[str], setting: str) -> str:
    _run([sys.executable, "-m", "venv", str(target)], dict(os.environ), setting, requirements[0])
    _run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          *requirements], dict(os.environ), setting, requirements[0])
    # pip writes the build directory into each script's shebang; point them where they will live.
    old, new = f"#!{target}/bin/", f"#!{final}/bin/"
    for script in (target / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            head = script.read_bytes()[:len(old)]
            if head == old.encode():
                script.write_bytes(new.encode() + script.read_bytes()[len(old):])
    return "pip"


def _check_imports(target: Path, version: str, setting: str) -> None:
    probe = "import mlflow, mlflow.sklearn, sklearn, yaml; print(mlflow.__version__)"
    done = subprocess.run([str(target / "bin" / "python"), "-I", "-W", "ignore", "-c", probe], capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0 or done.stdout.strip() != version:
        cause = (done.stderr.strip().splitlines() or [done.stdout.strip() or "no output"])[-1]
        raise UsageError(f"{setting}={version}: MLflow {version} installed but does not import on Python "
                         f"{platform.python_version()} ({cause[:200]}); choose another version")


def _run(argv: Sequence[str], env: dict[str, str], setting: str, mlflow_requirement: str) -> None:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=_INSTALL_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise UsageError(f"{setting}: installing {mlflow_requirement} took over {_INSTALL_TIMEOUT_S:.0f} s; check "
                         "the network and the package index, then run again") from None
    if done.returncode != 0:
        raise UsageError(explain_install_failure(done.stderr, mlflow_requirement, setting))


_UNREACHABLE = re.compile(r"Failed to fetch|error sending request|tcp connect error|dns error|Connection refused|"
                          r"Could not fetch URL|Failed to establish a new connection|Temporary failure in name "
                          r"resolution|timed out", re.IGNORECASE)
_NO_SUCH_VERSION = re.compile(r"there is no version of mlflow==|No matching distribution found for mlflow==|"
                              r"Could not find a version that satisfies the requirement mlflow==", re.IGNORECASE)
_CAUSE = re.compile(r"^\s*(?:error|cause|×|╰─▶|ERROR):?\s*", re.IGNORECASE)


def explain_install_failure(stderr: str, mlflow_requirement: str, setting: str) -> str:
    """One line saying why an install failed, in the user's terms, and what to do."""
    version = mlflow_requirement.removeprefix("mlflow==")
    lines = [_CAUSE.sub("", line).strip() for line in stderr.splitlines()]
    cause = "; ".join(line for line in lines if line and not line.startswith("Using Python"))[:240]
    if _NO_SUCH_VERSION.search(stderr):
        return (f"{setting}={version}: there is no MLflow {version} on the package index; choose a released "
                "version (`pip index versions mlflow` lists them)")
    if _UNREACHABLE.search(stderr):
        return (f"{setting}={version}: the package index cannot be reached to build MLflow {version}'s environment "
                f"({cause}); check the network or the index settings (UV_INDEX_URL, PIP_INDEX_URL), or run once "
                "where it can be reached: environments are cached")
    return (f"{setting}={version}: MLflow {version} cannot be installed on Python {platform.python_version()} "
            f"({cause}); choose another version")
