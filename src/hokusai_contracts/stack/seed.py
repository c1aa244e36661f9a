"""SEED=path: the fake auth service's keys described by the user (scopes and the rest of keys.yaml's fields).

The fake auth service owns the seed's format (``hokusai_mocks.fake_auth.seed``), and the engine
never imports the mocks: it asks the fake itself to check the file (``--check-seed``), before any
part starts, so a bad seed is one line and exit 2 with nothing to undo.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hokusai_contracts._errors import UsageError

__all__ = ["check_seed"]


def check_seed(path: Path, setting: str = "SEED") -> None:
    """A UsageError naming ``setting`` and the file unless the fake auth service can start with it."""
    if not path.is_file():
        raise UsageError(f"{setting}: no such file {path}; point it at a seed of key descriptions like "
                         "mocks/fake_auth/keys.yaml")
    done = subprocess.run([sys.executable, "-m", "hokusai_mocks.fake_auth", "--seed", str(path), "--check-seed"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.startswith("fake auth: ")]
        reason = said[-1].removeprefix("fake auth: ") if said else "the fake auth service refused it"
        raise UsageError(f"{setting}: {reason}")
