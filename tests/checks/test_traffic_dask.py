"""``judge`` on Dask: the same report from one process, 2 local worker processes and a real scheduler.

(One Dask worker against one process: ``tests/traffic/test_sources.py``, reading from S3.)

The cluster is real: a ``LocalCluster`` of processes, and ``dask scheduler`` + ``dask worker`` as
processes on loopback. A few thousand exchanges in four files (one a HAR), so each run is seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks import traffic_dask
from hokusai_contracts.domain.redact import forget_secrets, mask
from hokusai_contracts.report.model import Report
from hokusai_contracts.run.judge import JudgeOptions, run_judge

from ..traffic.captures import KEY, write_captures

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_captures(tmp_path_factory.mktemp("captures"), files=4, registrations=60)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A ``dask scheduler`` and a ``dask worker`` of two processes, on loopback; their logs in one file."""
    scratch = tmp_path_factory.mktemp("dask")
    address_file, log = scratch / "scheduler.json", scratch / "dask.log"
    with log.open("wb") as sink:
        started = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                     "--scheduler-file", str(address_file)], stdout=sink, stderr=sink)]
        try:
            deadline = time.monotonic() + 60
            while not address_file.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            address = json.loads(address_file.read_text())["address"]
            started.append(subprocess.Popen([str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "1",
                                             "--no-dashboard", "--host", "127.0.0.1"], stdout=sink, stderr=sink,
                                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}))
            with Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=120)
            yield address, log
        finally:
            for process in reversed(started):
                process.terminate()
                process.wait(timeout=30)


def _same(report: Report) -> dict[str, Any]:
    """What must not depend on how the capture was judged."""
    return {
        "verdict": report.verdict,
        "findings": [(f.hop, f.operation, f.kind, f.location, f.count, f.observed, f.reproduction,
                      [e.model_dump() for e in f.exchanges]) for f in report.findings],
        "causes": [(c.hop, c.kind, c.location, c.count, c.operations) for c in report.causes],
        "coverage": [c.model_dump() for c in report.coverage],
        "checks": [c.name for c in report.checks],
        "warnings": report.warnings,
    }


def _judge(captures: Path, report_dir: Path, **options: Any) -> Report:
    return run_judge(JudgeOptions(traffic=[captures], report_dir=report_dir, **options), out=lambda line: None)


def test_one_process_two_workers_and_a_real_scheduler_give_the_same_report(
        captures: Path, scheduler: tuple[str, Path], tmp_path: Path) -> None:
    # The reference: one process reading every file in order (captures this small are judged in-process).
    one = _judge(captures, tmp_path / "one")
    assert one.verdict == "fail" and one.metrics["judge.exchanges"] > 900 and one.metrics["judge.workers"] == 0
    kinds = {(f.kind.value, f.location) for f in one.findings}
    assert {("credential_leak", "header.Authorization"), ("missing_required_field", "body.api_key")} <= kinds
    assert any("capture-1.ndjson: line " in w and "not a NDJSON exchange" in w for w in one.warnings)
    two = _judge(captures, tmp_path / "two", workers=2)
    assert two.metrics["judge.workers"] == 2
    assert _same(two) == _same(one)
    address = scheduler[0]
    remote = _judge(captures, tmp_path / "remote", scheduler=address)
    assert _same(remote) == _same(one)


def test_a_whole_key_is_refused_on_workers_before_any_report_and_no_worker_log_holds_it(
        tmp_path: Path, scheduler: tuple[str, Path]) -> None:
    forget_secrets()
    captures = write_captures(tmp_path / "captures", files=3, registrations=40, key_in=1)
    address, log = scheduler
    with pytest.raises(UsageError) as refused:
        _judge(captures, tmp_path / "report", scheduler=address)
    assert "capture-1.ndjson" in str(refused.value) and mask(KEY) in str(refused.value)
    assert KEY not in str(refused.value) and not (tmp_path / "report").exists()
    accepted = _judge(captures, tmp_path / "accepted", scheduler=address, accept_secrets=True)
    written = "".join(p.read_text("utf-8") for p in (tmp_path / "accepted").rglob("*") if p.is_file())
    assert accepted.findings and KEY not in written
    assert KEY not in log.read_text("utf-8", errors="replace")
    forget_secrets()


def test_workers_0_is_one_line_and_exit_2(captures: Path, tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "judge", str(captures), "--workers", "0",
                                "--report-dir", str(tmp_path / "report")], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "--workers 0" in errors[0], completed.stderr
    assert not (tmp_path / "report").exists()


def test_a_scheduler_that_does_not_answer_and_a_path_matching_nothing_are_refused_before_any_work(
        captures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traffic_dask, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(UsageError, match="tcp://127.0.0.1:9: no Dask scheduler answered"):
        _judge(captures, tmp_path / "report", scheduler="tcp://127.0.0.1:9")
    with pytest.raises(UsageError, match="tls://127.0.0.1:9: tls:// needs Dask's TLS settings"):
        _judge(captures, tmp_path / "report", scheduler="tls://127.0.0.1:9")
    with pytest.raises(UsageError, match="nothing-.*: no such file or folder, and no file matches it"):
        _judge(captures / "nothing-*.ndjson", tmp_path / "report")
    assert not (tmp_path / "report").exists()


def test_a_partition_no_worker_could_judge_is_named_and_the_others_are_judged(
        captures: Path, scheduler: tuple[str, Path], tmp_path: Path) -> None:
    from hokusai_contracts.checks.traffic_partition import ContractBundle, JudgeSettings
    from hokusai_contracts.run.inputs import load_inputs
    from hokusai_contracts.traffic.partitions import plan_partitions
    from hokusai_contracts.traffic.sources import resolve_sources

    inputs = load_inputs()
    bundle = ContractBundle.of(inputs.auth, inputs.mlflow, inputs.proxy)
    gone = tmp_path / "gone.ndjson"
    gone.write_text((captures / "capture-0.ndjson").read_text())
    sources = resolve_sources([captures / "capture-0.ndjson", gone])
    gone.unlink()  # after planning, before any worker reads it
    with traffic_dask.DaskExecutor(scheduler=scheduler[0]) as executor:
        judged = executor.judge(plan_partitions(sources, 1 << 20), bundle, JudgeSettings())
    assert [failed.part.source.name for failed in judged.failed] == ["gone.ndjson"]
    assert "PartitionFailed" in judged.failed[0].reason and "FileNotFoundError" in judged.failed[0].reason
    assert judged.tally.judged > 100


def test_a_worker_lost_mid_run_is_retried_by_dask_and_the_tally_is_the_same(
        captures: Path, scheduler: tuple[str, Path]) -> None:
    import psutil

    from hokusai_contracts.checks.traffic_partition import ContractBundle, JudgeSettings, judge_partition
    from hokusai_contracts.checks.traffic_tally import Tally
    from hokusai_contracts.run.inputs import load_inputs
    from hokusai_contracts.traffic.partitions import plan_partitions
    from hokusai_contracts.traffic.sources import resolve_sources

    inputs = load_inputs()
    bundle = ContractBundle.of(inputs.auth, inputs.mlflow, inputs.proxy)
    parts = plan_partitions(resolve_sources([captures / "capture-0.ndjson", captures / "capture-1.ndjson"]), 20_000)
    expected = Tally()
    for part in parts:
        expected.merge(judge_partition(part, bundle, JudgeSettings()))
    with Client(scheduler[0], timeout=60) as client:
        workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
    killed: list[int] = []

    def kill_one(part: object, tally: object) -> None:
        if not killed:
            killed.append(workers[0].pid)
            workers[0].kill()  # its running task is lost; the nanny starts a new worker

    with traffic_dask.DaskExecutor(scheduler=scheduler[0]) as executor:
        judged = executor.judge(parts, bundle, JudgeSettings(), done=kill_one)
    assert killed and judged.failed == []
    assert judged.tally.judged == expected.judged and judged.tally.counts == expected.counts
    assert {k: (p, f.count) for k, (p, f) in judged.tally.findings.items()} == \
        {k: (p, f.count) for k, (p, f) in expected.findings.items()}
