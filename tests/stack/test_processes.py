"""The process runner's guards, without MLflow: the watchdog ends what a dead runner leaves, and the
temporary directory goes whatever fails while stopping."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from hokusai_contracts._errors import StackError
from hokusai_contracts.stack import processes
from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.processes import ProcessStack


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], within_s: float) -> float:
    started = time.monotonic()
    while not all(map(_gone, pids)):
        assert time.monotonic() - started < within_s, [p for p in pids if not _gone(p)]
        time.sleep(0.05)
    return time.monotonic() - started


def _group(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _watchdog(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-I", str(processes._WATCHDOG), str(root)], stdin=subprocess.PIPE,
                            start_new_session=True)


def test_the_watchdog_ends_every_group_it_was_told_of_and_removes_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "hokusai-stack-test"
    (root / "state").mkdir(parents=True)
    # A group whose leader ignores SIGTERM, with a child: only SIGKILL of the whole group ends both.
    stubborn = _group("sh", "-c", "trap '' TERM; sleep 600 & wait")
    polite = _group("sleep", "600")
    time.sleep(0.3)
    members = [p.pid for p in psutil.Process(stubborn.pid).children(recursive=True)] + [stubborn.pid, polite.pid]
    watchdog = _watchdog(root)
    assert watchdog.stdin is not None
    watchdog.stdin.write(f"{stubborn.pid}\n{polite.pid}\n".encode())
    watchdog.stdin.close()  # what the runner's death does
    took = _wait_gone(members, within_s=8)
    assert watchdog.wait(10) == 0 and not root.exists()
    assert took < 5  # SIGTERM, then SIGKILL after the grace period
    stubborn.wait()
    polite.wait()


def test_the_watchdog_leaves_a_group_the_runner_ended_itself(tmp_path: Path) -> None:
    other = _group("sleep", "600")  # stands for whoever gets the number next
    watchdog = _watchdog(tmp_path / "hokusai-stack-test")
    assert watchdog.stdin is not None
    watchdog.stdin.write(f"{other.pid}\n-{other.pid}\n".encode())
    watchdog.stdin.close()
    assert watchdog.wait(10) == 0
    assert other.poll() is None
    other.kill()
    other.wait()


def test_a_failure_while_keeping_the_logs_still_removes_the_directory(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stack = ProcessStack()
    stack.root = Path(tempfile.mkdtemp(prefix="hokusai-stack-"))
    (stack.root / "state").mkdir()
    (stack.root / "state" / "auth-state.json").write_text("{}", "utf-8")
    not_a_folder = tmp_path / "report"
    not_a_folder.write_text("a file where the report directory should be", "utf-8")
    with pytest.raises(StackError, match=r"^cannot keep the stack's logs in .*report/logs .*writable REPORT_DIR$"):
        stack.stop(keep_logs_in=not_a_folder / "logs")
    assert not stack.root.exists()



@pytest.mark.integration
def test_a_part_whose_port_another_process_took_starts_once_more_on_a_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # What two pytest-xdist workers did once: both picked the same free port, the other bound it first.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        picked = processes.free_ports
        monkeypatch.setattr(processes, "free_ports", lambda host: {**picked(host), Part.AUTH: taken})
        # A borrowed MLflow (nobody listens there): only the light parts start, auth, its journals and the proxy.
        stack = ProcessStack(StackDefinition(mlflow_url=f"http://127.0.0.1:{processes.free_port()}"))
        try:
            endpoints = stack.start()
            assert urlsplit(endpoints.auth_url).port not in (taken, None)
            assert "address already in use" not in stack.log_tail(Part.AUTH).lower()
            # The journal in front of the auth service was launched again too, toward the new port.
            assert endpoints.auth_journal_url is not None
            answer = httpx.post(endpoints.auth_journal_url + "/api/v1/keys/validate", timeout=30,
                                json={"api_key": endpoints.api_key, "service_id": "platform"})
            assert answer.status_code == 200 and answer.json()["is_valid"] is True
        finally:
            stack.stop()
