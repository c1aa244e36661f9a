"""``hokusai-contracts serve PART``: each part alone, in the foreground, until SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
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


def test_serve_auth_seeds_the_callers_keys() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hokusai_contracts", "serve", "auth", "--port", str(port), "--api-key", KEY,
         "--api-key", f"{WEBSITE_KEY}@website", "--profile", "production"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/health")
        validate = base + "/api/v1/keys/validate"
        assert httpx.post(validate, json={"api_key": KEY, "service_id": "platform"}).json()["is_valid"] is True
        assert httpx.post(validate, json={"api_key": WEBSITE_KEY, "service_id": "website"}).status_code == 200
        assert httpx.post(validate, json={"api_key": WEBSITE_KEY, "service_id": "platform"}).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert KEY not in output and WEBSITE_KEY not in output
