"""A 200 MB artifact through the proxy comes back byte-identical, and the proxy streams it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_200_mb_round_trip_through_the_reference_proxy(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(tmp_path), "--suites", "none",
         "--no-faults"], env={**os.environ, "HOKUSAI_ARTIFACT_MB": "200"}, capture_output=True, text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    report = json.loads((tmp_path / "contract-report.json").read_text())
    (check,) = [c for c in report["checks"] if c["suite"] == "large-artifact" and "multipart" not in c["name"]]
    assert check["status"] == "passed"
    assert report["metrics"]["artifact_mb"] == 200
    # Streaming: the proxy's memory grows by a small fraction of the artifact.
    assert report["metrics"]["proxy_rss_growth_mb"] < 50
