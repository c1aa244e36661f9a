"""Building the MLflow document with another environment's MLflow: its protos, its version.

The package is copied into a temporary directory and imported from there by that environment's
interpreter in isolated mode (no ``PYTHONPATH``, no user site, no current directory), so nothing
of the project's own environment (hokusai_contracts, its pins) can leak into what that MLflow
declares.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["build_in"]

_PACKAGE = Path(__file__).resolve().parent
_TIMEOUT_S = 300


def build_in(python: Path) -> tuple[dict[str, Any], str]:
    """(document, MLflow version) as ``python``'s MLflow declares them; ``ValueError`` if it cannot."""
    with tempfile.TemporaryDirectory(prefix="hokusai-generator-") as tmp:
        shutil.copytree(_PACKAGE, Path(tmp) / _PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = Path(tmp) / "document.json"
        code = (f"import sys; sys.path.insert(0, {tmp!r}); "
                f"from {_PACKAGE.name}.emit import main; sys.exit(main([{str(out)!r}]))")
        try:
            done = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                                  timeout=_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValueError(f"cannot run the generator with {python}: {exc}") from None
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ValueError(f"the generator failed with {python} (exit {done.returncode}): {last}")
        emitted = json.loads(out.read_text("utf-8"))
    return emitted["document"], str(emitted["mlflow_version"])
