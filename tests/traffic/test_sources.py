"""Captures in S3: ``judge s3://...`` against moto's S3 server on loopback, AWS_ENDPOINT_URL honoured."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.run.judge import JudgeOptions, run_judge

from .captures import write_captures

pytestmark = [pytest.mark.integration]
MOTO = Path(sys.executable).parent / "moto_server"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on a free loopback port; its URL, and the AWS settings that point at it."""
    import s3fs

    port = _free_port()
    server = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        for name, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()  # a filesystem of an earlier test knows another endpoint
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        s3fs.S3FileSystem.clear_instance_cache()


def test_a_capture_in_s3_is_judged_as_the_same_file_on_disk(s3: str, tmp_path: Path) -> None:
    import s3fs

    local = write_captures(tmp_path / "captures", files=2, registrations=60)
    bucket = s3fs.S3FileSystem()
    bucket.mkdir("captures")
    for path in local.iterdir():
        bucket.put_file(str(path), f"captures/2026-12/{path.name}")

    def judged(traffic: str | Path, name: str, **options: Any) -> list[tuple[str, str, str, int]]:
        report = run_judge(JudgeOptions(traffic=traffic, report_dir=tmp_path / name, **options), out=lambda line: None)
        return [(f.hop.value, f.kind.value, f.location, f.count) for f in report.findings]

    from_s3 = judged("s3://captures/2026-12/capture-0.ndjson", "s3")
    assert from_s3 and from_s3 == judged(local / "capture-0.ndjson", "disk")
    # A Dask worker (another process) reads S3 too, by the same settings.
    assert judged("s3://captures/2026-12/", "s3-folder", workers=1) == judged(local, "disk-folder")
    with pytest.raises(UsageError, match="s3://captures/2026-12/nothing-\\*: no such file or folder"):
        judged("s3://captures/2026-12/nothing-*", "none")
    with pytest.raises(UsageError, match="s3://no-such-bucket/x: cannot be read \\(.*\\); check AWS_ACCESS_KEY_ID"):
        judged("s3://no-such-bucket/x", "unreadable")
    assert not (tmp_path / "none").exists() and not (tmp_path / "unreadable").exists()


def test_an_s3_endpoint_that_does_not_answer_is_one_line_and_exit_2(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "judge", "s3://captures/x.ndjson", "--report-dir",
         str(tmp_path / "report")], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
             "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    assert completed.returncode == 2, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "cannot be read (EndpointConnectionError" in errors[0], completed.stderr
    assert not (tmp_path / "report").exists()
