"""``hokusai-contracts serve stack``: the key in a 0600 file, never on screen, and an example that works as printed."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _read_until(process: subprocess.Popen[str], marker: str, seconds: float = 120) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError("serve stack never printed " + repr(marker) + ":\n" + "\n".join(lines))


def test_serve_stack_prints_a_key_file_and_an_example_that_reads_it(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen([str(bin_dir / "hokusai-contracts"), "serve", "stack"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        lines = _read_until(process, "your client")
        printed = "\n".join(lines)
        key_line = next(line for line in lines if line.strip().startswith("API key"))
        key_file = Path(re.search(r"in (\S+) \(mode 0600", key_line).group(1))  # type: ignore[union-attr]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text()
        assert re.fullmatch(r"hk_live_[A-Za-z0-9]{32}", key)
        assert key not in printed
        assert f"{key[:10]}...{key[-4:]}" in key_line

        example = next(line for line in lines if line.strip().startswith("try it")).split(":", 1)[1].strip()
        assert "$(cat " in example and key not in example
        # As printed, in a shell whose PATH has the tool: the registration through the proxy succeeds.
        ran = subprocess.run(["bash", "-c", example], capture_output=True, text=True, timeout=240, cwd=tmp_path,
                             env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)})
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
        assert "SUCCESS" in ran.stdout
        assert key not in ran.stdout + ran.stderr
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=60)[0]
    assert key not in rest
    assert not key_file.exists(), "the key file outlived the stack"
