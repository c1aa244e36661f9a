"""``make bench``: where the seconds of ``make contract-local`` go.

It runs the real command in a child process (so interpreter start-up and
imports count, as they do for a user), with ``--full`` so that the
concurrency figures (8 registrations at once, validate calls that reached
the auth service) are measured too, then reads the phase timings and metrics
the run recorded in its report and prints them as a table: the default run's
time is the total less the ``concurrency`` phase. In the same bench run it
measures two yardsticks (``bench_yardsticks``): the floor (MLflow start plus one
plain registration) and a plain ``schemathesis run`` of each suite's contract
with the suite's own configuration, and prints ``ratio_to_floor`` and, per
suite, ``ratio_to_plain_schemathesis``; and the peak RSS of ``judge`` on a ~200 MB NDJSON capture
(``bench_traffic``: ``judge_peak_rss_mb``, which must stay under 200). The figures are also written
to ``REPORT_DIR/bench.json``.
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
from hokusai_contracts.commands.bench_yardsticks import PlainRun, measure_floor, measure_plain_schemathesis
from hokusai_contracts.contracts import files
from hokusai_contracts.domain.names import Suite

__all__ = ["ratios", "run_bench"]


def ratios(wall: float, timings: dict[str, float], floor_s: float,
           plain: dict[Suite, PlainRun]) -> dict[str, Any]:
    """The run against its yardsticks, every figure from this one bench run.

    The default run is the measured run less its ``concurrency`` phase (the bench runs FULL=1).
    """
    default = wall - timings.get("concurrency", 0.0)
    per_suite: dict[str, dict[str, float | None]] = {}
    for suite, run in plain.items():
        ours = timings.get(f"suites.{suite.value}")
        per_suite[suite.value] = {"suite_s": ours, "plain_schemathesis_s": run.seconds,
                                  "ratio_to_plain_schemathesis": round(ours / run.seconds, 2)
                                  if ours is not None and run.seconds > 0 else None}
    return {"default_run_s": round(default, 3), "floor_s": round(floor_s, 3),
            "ratio_to_floor": round(default / floor_s, 2) if floor_s > 0 else None, "suites": per_suite}


def table_rows(wall: float, timings: dict[str, float]) -> list[tuple[str, float]]:
    """Top-level phases in the order they run, each followed by its parts (indented).

    Parts of ``start`` and of ``suites`` run in parallel, so they add up to more than their phase;
    only top-level phases count towards the accounted time.
    """
    rows = [("total wall (make contract-local FULL=1, venv installed)", wall)]
    if "concurrency" in timings:
        rows.append(("  default run (total less concurrency)", wall - timings["concurrency"]))
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


def run_bench(report_dir: Path, extra_args: list[str] | None = None) -> int:
    print("bench: measuring the floor (MLflow start + one plain registration) ...", flush=True)
    floor_s = measure_floor()
    print("bench: the run (make contract-local FULL=1) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-") as scratch:
        run_dir = Path(scratch)
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(run_dir), "--full",
             *(extra_args or [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        wall = time.perf_counter() - started
        report_path = run_dir / "contract-report.json"
        if not report_path.exists():
            print(f"bench: the run wrote no report (exit {completed.returncode}):\n{completed.stderr[-2000:]}",
                  file=sys.stderr)
            return 2
        report = json.loads(report_path.read_text("utf-8"))
    timings: dict[str, float] = dict(report.get("timings", {}))
    print("bench: plain schemathesis run of each suite's contract ...", flush=True)
    compared = ratios(wall, timings, floor_s, measure_plain_schemathesis(DEFAULT_MAX_EXAMPLES, files.contracts_dir()))
    print(f"bench: a {CAPTURE_MB} MB NDJSON capture judged (peak RSS of `hokusai-contracts judge`) ...", flush=True)
    memory = measure_judge_memory()
    rows = table_rows(wall, timings)
    width = max(len(name) for name, _ in rows)
    print(f"{'phase'.ljust(width)}  seconds")
    print(f"{'-' * width}  -------")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}")
    for name, value in sorted(report.get("metrics", {}).items()):
        print(f"{name.ljust(width)}  {value:7.1f}")
    print(f"\nfloor (MLflow start + a plain registration)  {compared['floor_s']:7.2f} s")
    print(f"ratio_to_floor (default run / floor)         {compared['ratio_to_floor']}")
    for suite, figures in compared["suites"].items():
        print(f"{suite}: {figures['suite_s']} s in the run, {figures['plain_schemathesis_s']} s plain: "
              f"ratio_to_plain_schemathesis {figures['ratio_to_plain_schemathesis']}")
    print(f"judge_peak_rss_mb {memory['judge_peak_rss_mb']} ({memory['judge_capture_mb']} MB, "
          f"{memory['judge_exchanges']} exchanges, {memory['judge_s']} s)")
    print(f"\nverdict of the measured run: {report.get('verdict')} (exit {completed.returncode})")
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir / "bench.json"
    out.write_text(json.dumps({"wall_s": round(wall, 3), "exit_code": completed.returncode,
                               "verdict": report.get("verdict"), "timings_s": timings,
                               "metrics": report.get("metrics", {}), **compared, **memory}, indent=2) + "\n", "utf-8")
    print(f"written: {out}")
    return 0 if completed.returncode == 0 else 1
