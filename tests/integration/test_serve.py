"""``hokusai-contracts serve PART``: each part alone, in the foreground, until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from hokusai_contracts.stack.processes import free_port

pytestmark = pytest.mark.integration

KEY = "hk_live_" + "s" * 28 + "WXYZ"
WEBSITE_KEY = "hk_live_" + "w" * 32


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _argvs(pid: int) -> list[str]:
    """The command lines of ``pid``'s descendants, as ``ps`` shows them to every user of the machine."""
    return [" ".join(child.cmdline()) for child in psutil.Process(pid).children(recursive=True)]


@pytest.mark.parametrize("by", ["options", "environment"])
def test_serve_auth_seeds_the_callers_keys_without_putting_them_in_an_argv(by: str) -> None:
    port = free_port()
    admin = "adm_" + "serveAdmin" * 3 + "zz"
    keys = ["--api-key", KEY, "--api-key", f"{WEBSITE_KEY}@website", "--admin-token", admin]
    env = {**os.environ}
    if by == "environment":
        keys = []
        env.update(FAKE_AUTH_API_KEYS=f"{KEY},{WEBSITE_KEY}@website", FAKE_AUTH_ADMIN_TOKEN=admin)
    process = subprocess.Popen(
        [sys.executable, "-m", "hokusai_contracts", "serve", "auth", "--port", str(port), *keys,
         "--profile", "production"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/health")
        validate = base + "/api/v1/keys/validate"
        assert httpx.post(validate, json={"api_key": KEY, "service_id": "platform"}).json()["is_valid"] is True
        assert httpx.post(validate, json={"api_key": WEBSITE_KEY, "service_id": "website"}).status_code == 200
        assert httpx.post(validate, json={"api_key": WEBSITE_KEY, "service_id": "platform"}).status_code == 401
        assert httpx.get(base + "/api/v1/keys", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        argvs = _argvs(process.pid)
        assert argvs, "the fake auth service runs as a child"
        assert [a for a in argvs if KEY in a or WEBSITE_KEY in a or admin in a] == []
        if by == "environment":
            assert not any(KEY in a for a in [" ".join(psutil.Process(process.pid).cmdline()), *argvs])
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert KEY not in output and WEBSITE_KEY not in output
