"""``make bench``: where the seconds of ``make contract-local`` go.

It runs the real command in a child process (so interpreter start-up and imports count, as they
do for a user): the default run, exactly as ``make contract-local`` runs it, whose phase timings
and metrics (read from its report) are printed as a table and give ``ratio_to_floor``; then
``--full --suites none --no-faults`` for the concurrency figures (8 registrations at once, validate
calls that reached the auth service), which only ``FULL=1`` measures. In the same bench run it
measures the yardsticks (``bench_yardsticks``): the floor (MLflow start plus one plain
registration); the default run again on production's stores (PostgreSQL + S3) against the floor
on those stores (``stores``, its own ``ratio_to_floor``); per suite, ours and a plain
``schemathesis run`` of the same work, each alone on one stack (``ratio_to_plain_schemathesis``);
and the peak RSS of ``judge`` on a ~200 MB NDJSON capture (``bench_traffic``:
``judge_peak_rss_mb``, which must stay under 200). The figures are also
written to ``REPORT_DIR/bench.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hokusai_contracts.checks.suites.runner import DEFAULT_MAX_EXAMPLES
from hokusai_contracts.commands.bench_traffic import CAPTURE_MB, measure_judge_memory
from hokusai_contracts.commands.bench_yardsticks import (
    PlainRun,
    measure_floor,
    measure_floor_on_stores,
    measure_plain_schemathesis,
)
from hokusai_contracts.contracts import files
from hokusai_contracts.domain.names import Suite

__all__ = ["ratios", "run_bench"]


def ratios(default_run_s: float, timings: dict[str, float], floor_s: float,
           plain: dict[Suite, PlainRun]) -> dict[str, Any]:
    """The run against its yardsticks, every figure from this one bench run.

    ``suite_s`` is the suite's wall time in the default run (beside the other suites); the ratio is
    of the suite alone (``suite_alone_s``) over plain Schemathesis alone, the same work on one stack.
    """
    per_suite: dict[str, dict[str, float | None]] = {}
    for suite, run in plain.items():
        per_suite[suite.value] = {"suite_s": timings.get(f"suites.{suite.value}"), "suite_alone_s": run.ours_s,
                                  "plain_schemathesis_s": run.seconds,
                                  "ratio_to_plain_schemathesis": round(run.ours_s / run.seconds, 2)
                                  if run.ours_s is not None and run.seconds > 0 else None}
    return {"default_run_s": round(default_run_s, 3), "floor_s": round(floor_s, 3),
            "ratio_to_floor": round(default_run_s / floor_s, 2) if floor_s > 0 else None, "suites": per_suite}


def table_rows(wall: float, timings: dict[str, float]) -> list[tuple[str, float]]:
    """Top-level phases in the order they run, each followed by its parts (indented).

    Parts of ``start`` and of ``suites`` run in parallel, so they add up to more than their phase;
    only top-level phases count towards the accounted time.
    """
    rows = [("default run (make contract-local, venv installed)", wall)]
    accounted = 0.0
    for phase in ("start", "preflight", "imports_wait", "scenario", "large_artifact", "concurrency", "suites",
                  "hop_journals", "faults", "stop"):
        if phase == "scenario":
            for name, seconds in sorted(timings.items()):
                if name.startswith("scenario."):
                    rows.append((name, seconds))
                    accounted += seconds
            continue
        if phase not in timings:
            continue
        rows.append((phase, timings[phase]))
        accounted += timings[phase]
        parts = sorted((k, v) for k, v in timings.items() if k.startswith(phase + "."))
        rows += [(f"  {name} (in parallel)", seconds) for name, seconds in parts]
    rows.append(("interpreter start, imports, report writing (rest)", max(wall - accounted, 0.0)))
    return rows


def _timed_run(args: list[str]) -> tuple[float, int, str, dict[str, Any] | None]:
    """``hokusai-contracts local ARGS`` in a child process: wall seconds, exit code, stderr, its report."""
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-") as scratch:
        run_dir = Path(scratch)
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(run_dir),
                                    *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        report_path = run_dir / "contract-report.json"
        report = json.loads(report_path.read_text("utf-8")) if report_path.exists() else None
    return wall, completed.returncode, completed.stderr, report


#: Production's stores, measured beside the default run: the twin must not make the daily run slow.
STORES = "postgresql+s3"


def _on_production_stores(extra_args: list[str]) -> dict[str, Any]:
    """The default run on PostgreSQL + S3, against the floor on the same stores."""
    print(f"bench: the default run on {STORES} (BACKEND_STORE=postgresql ARTIFACT_STORE=s3), and its floor ...",
          flush=True)
    floor_s = measure_floor_on_stores("postgresql", "s3")
    wall, code, _, report = _timed_run(["--backend-store", "postgresql", "--artifact-store", "s3", *extra_args])
    return {"default_run_s": round(wall, 3), "floor_s": round(floor_s, 3),
            "ratio_to_floor": round(wall / floor_s, 2) if floor_s > 0 else None, "exit_code": code,
            "verdict": report.get("verdict") if report else None,
            "timings_s": report.get("timings", {}) if report else {}}


def run_bench(report_dir: Path, extra_args: list[str] | None = None) -> int:
    print("bench: measuring the floor (MLflow start + one plain registration) ...", flush=True)
    floor_s = measure_floor()
    print("bench: the default run (make contract-local) ...", flush=True)
    wall, code, stderr, report = _timed_run(list(extra_args or []))
    print("bench: the concurrency figures (FULL=1's concurrency phase alone) ...", flush=True)
    _, full_code, full_stderr, full_report = _timed_run(["--full", "--suites", "none", "--no-faults",
                                                         *(extra_args or [])])
    for name, got, errors in (("default", report, stderr), ("FULL=1", full_report, full_stderr)):
        if got is None:
            print(f"bench: the {name} run wrote no report:\n{errors[-2000:]}", file=sys.stderr)
            return 2
    assert report is not None and full_report is not None
    timings: dict[str, float] = dict(report.get("timings", {}))
    concurrency = {"concurrency_s": full_report.get("timings", {}).get("concurrency"),
                   **{k: v for k, v in full_report.get("metrics", {}).items()
                      if k.startswith(("concurren", "validate_calls", "proxy_rss"))}}
    print("bench: each suite alone, ours and plain `schemathesis run` ...", flush=True)
    compared = ratios(wall, timings, floor_s, measure_plain_schemathesis(DEFAULT_MAX_EXAMPLES, files.contracts_dir()))
    stores = _on_production_stores(extra_args or [])
    print(f"bench: a {CAPTURE_MB} MB NDJSON capture judged (peak RSS of `hokusai-contracts judge`; then on 1 and 2 "
          "Dask workers) ...", flush=True)
    memory = measure_judge_memory()
    rows = table_rows(wall, timings)
    width = max(len(name) for name, _ in rows)
    print(f"{'phase'.ljust(width)}  seconds")
    print(f"{'-' * width}  -------")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}")
    for name, value in sorted({**report.get("metrics", {}), **concurrency}.items()):
        if value is not None:
            print(f"{name.ljust(width)}  {value:7.1f}")
    print(f"\nfloor (MLflow start + a plain registration)  {compared['floor_s']:7.2f} s")
    print(f"ratio_to_floor (default run / floor)         {compared['ratio_to_floor']}")
    for suite, figures in compared["suites"].items():
        print(f"{suite}: {figures['suite_s']} s in the run; alone {figures['suite_alone_s']} s, "
              f"{figures['plain_schemathesis_s']} s plain: ratio_to_plain_schemathesis "
              f"{figures['ratio_to_plain_schemathesis']}")
    print(f"{STORES}: default run {stores['default_run_s']} s, floor on the same stores {stores['floor_s']} s: "
          f"ratio_to_floor {stores['ratio_to_floor']} (verdict {stores['verdict']}, exit {stores['exit_code']})")
    print(f"judge_peak_rss_mb {memory['judge_peak_rss_mb']} ({memory['judge_capture_mb']} MB, "
          f"{memory['judge_exchanges']} exchanges, {memory['judge_s']} s)")
    print(f"judge_exchanges_per_s {memory['judge_exchanges_per_s']} (1 Dask worker; 2 workers: "
          f"{memory['judge_exchanges_per_s_2_workers']}), judge_scaling {memory['judge_scaling']} "
          f"(load average {memory['judge_load_average']})")
    print(f"\nverdict of the measured run: {report.get('verdict')} (exit {code}; FULL=1 concurrency run: exit "
          f"{full_code})")
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir / "bench.json"
    out.write_text(json.dumps({"wall_s": round(wall, 3), "exit_code": code, "verdict": report.get("verdict"),
                               "timings_s": timings, "metrics": report.get("metrics", {}), "concurrency": concurrency,
                               **compared, **memory, "stores": {STORES: stores}}, indent=2) + "\n", "utf-8")
    print(f"written: {out}")
    return 0 if code == 0 and full_code == 0 else 1
