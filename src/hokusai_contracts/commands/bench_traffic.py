"""``make bench``'s judge figures: a ~200 MB NDJSON capture judged; peak RSS, and throughput on 1 and 2 workers.

``judge`` streams: it keeps one finding per defect and the statuses per operation, never the
exchanges, so its memory must not grow with the capture. The capture is generated (registration
traffic as the proxy and its upstreams see it, a few defects among it) into a temporary directory
and judged by the real command in a child process; its peak RSS is read in a wrapper process whose
only child it is (``RUSAGE_CHILDREN`` there counts the judge alone, not the bench's other runs; with
Dask workers, the largest of its processes). The same capture is then judged on a local Dask cluster
of 1 and of 2 workers: ``judge_exchanges_per_s`` (1 worker; from the first task to the last, the
cluster's start-up aside) and ``judge_scaling`` (2 workers' rate over 1's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["CAPTURE_MB", "generate_capture", "judged_rate", "measure_judge_memory", "registration_lines"]

#: The capture the bench judges, in megabytes.
CAPTURE_MB = 200
_KEY = "<HOKUSAI_API_KEY>"
_ARTIFACT = "0123456789abcdef" * 10_000
# Runs the judge as its only child and prints that child's peak RSS (Linux: kilobytes).
_WRAPPER = ("import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
            "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def registration_lines(serial: int, *, artifacts: bool = True) -> list[dict[str, Any]]:
    """One registration's worth of exchanges, ids made unique by ``serial`` (``artifacts``: with its upload)."""
    run_id = f"{serial:032x}"
    params = [{"key": f"param_{i}", "value": f"{serial}-{i}"} for i in range(5)]
    return [
        {"method": "POST", "url": "http://auth.internal/api/v1/keys/validate", "status": 200,
         "headers": {"content-type": "application/json"},
         "body": {"api_key": "hk_live_re...cted", "service_id": "platform"},
         "response_headers": {"content-type": "application/json"},
         "response_body": {"is_valid": True, "key_id": f"key-{serial % 7}", "service_id": "platform",
                           "scopes": ["read", "write"]}},
        # Now and then the caller's key forwarded to MLflow: one defect, merged and counted.
        {"method": "POST", "url": "http://mlflow.internal/api/2.0/mlflow/runs/log-batch", "status": 200,
         "headers": {"content-type": "application/json",
                     **({"authorization": f"Bearer {_KEY}"} if serial % 50 == 0 else {})},
         "body": {"run_id": run_id, "params": params, "metrics": [], "tags": []},
         "response_headers": {"content-type": "application/json"}, "response_body": {}},
        # An artifact upload: most of a registration's bytes, kept by size only (as the journal keeps it).
        {"method": "PUT", "url": f"http://mlflow.internal/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts/"
                                 "model/model.pkl", "status": 200,
         "headers": {"content-type": "application/octet-stream"}, "body": _ARTIFACT if artifacts else "0" * 64,
         "response_headers": {"content-type": "application/json"}, "response_body": {}},
        {"method": "GET", "url": f"https://registry.example/api/mlflow/api/2.0/mlflow/runs/get?run_id={run_id}",
         "status": 200, "headers": {"authorization": f"Bearer {_KEY}"}},
    ]


def generate_capture(path: Path, megabytes: int = CAPTURE_MB) -> int:
    """Write an NDJSON capture of about ``megabytes``; returns the number of exchanges."""
    limit, written, count, serial = megabytes * 1024 * 1024, 0, 0, 0
    with path.open("w", encoding="utf-8") as sink:
        while written < limit:
            serial += 1
            for line in registration_lines(serial):
                text = json.dumps(line) + "\n"
                sink.write(text)
                written += len(text)
                count += 1
    return count


def measure_judge_memory(megabytes: int = CAPTURE_MB) -> dict[str, Any]:
    """Generate the capture, judge it in a child process (peak RSS, time, exit code), then on 1 and 2 workers."""
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-judge-") as scratch:
        capture = Path(scratch) / "capture.ndjson"
        exchanges = generate_capture(capture, megabytes)
        size_mb = capture.stat().st_size / 1024 / 1024
        started = time.perf_counter()
        wrapper = subprocess.run(
            [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "hokusai_contracts", "judge", str(capture),
             "--report-dir", str(Path(scratch) / "report")],
            capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        rates = {workers: judged_rate(capture, Path(scratch) / f"workers-{workers}", workers) for workers in (1, 2)}
    code, peak_kb = (int(word) for word in wrapper.stdout.split())
    return {"judge_peak_rss_mb": round(peak_kb / 1024, 1), "judge_capture_mb": round(size_mb, 1),
            "judge_exchanges": exchanges, "judge_s": round(seconds, 2), "judge_exit_code": code,
            "judge_exchanges_per_s": rates[1], "judge_exchanges_per_s_2_workers": rates[2],
            "judge_scaling": round(rates[2] / rates[1], 2) if rates[1] else None,
            "judge_load_average": round(os.getloadavg()[0], 1)}


def judged_rate(capture: Path, report_dir: Path, workers: int) -> float:
    """Exchanges per second of ``judge --workers N`` on ``capture`` (its report's ``judge.exchanges_per_s``)."""
    subprocess.run([sys.executable, "-m", "hokusai_contracts", "judge", str(capture), "--workers", str(workers),
                    "--report-dir", str(report_dir)], capture_output=True, text=True, check=False)
    report = json.loads((report_dir / "contract-report.json").read_text("utf-8"))
    return float(report["metrics"]["judge.exchanges_per_s"])
