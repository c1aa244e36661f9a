"""Eight registrations at once through the proxy: every version exactly once (``FULL=1``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_eight_concurrent_registrations_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(tmp_path), "--suites", "none",
         "--no-faults", "--full"], env={**os.environ, "HOKUSAI_ARTIFACT_MB": "0"}, capture_output=True, text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    report = json.loads((tmp_path / "contract-report.json").read_text())
    (check,) = [c for c in report["checks"] if c["suite"] == "concurrency"]
    assert check["status"] == "passed" and check["cases"] == 8
    assert report["metrics"]["concurrent_registrations"] == 8
    # The proxy's cache answers for the key the scenario already validated.
    assert report["metrics"]["validate_calls_reaching_auth"] <= 1
