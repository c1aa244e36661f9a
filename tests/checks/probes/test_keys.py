"""Probe keys are shaped like the seeded third-party ``platform`` key."""

from __future__ import annotations

import yaml

from hokusai_contracts.checks.probes.keys import platform_key_request
from hokusai_contracts.contracts.files import seed_file


def test_a_probe_key_has_the_scopes_rate_limit_and_plan_of_the_platform_key() -> None:
    primary = next(k for k in yaml.safe_load(seed_file().read_text())["keys"] if k["name"] == "primary")
    body = platform_key_request("fault-probe-1")
    assert body["service_id"] == "platform" and body["name"] == "fault-probe-1"
    assert body["scopes"] == primary["scopes"] == ["read", "write"]
    assert body["rate_limit_per_hour"] == primary["rate_limit_per_hour"]
    # What the fake's key administration takes (APIKeyCreate forbids unknown fields).
    assert set(body) <= {"name", "service_id", "scopes", "environment", "expires_in_days", "rate_limit_per_hour",
                         "monthly_prediction_limit", "allowed_ips", "billing_plan"}
