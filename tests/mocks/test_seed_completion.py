"""A seed of one's own: the packaged probe keys it lacks are added with its primary's scopes."""

from __future__ import annotations

from pathlib import Path

from hokusai_mocks.fake_auth.seed import completed_seed, load_seed

ROOT = Path(__file__).resolve().parents[2]


def test_probe_keys_follow_the_primary_platform_keys_scopes() -> None:
    keys = {key.name: key for key in completed_seed(ROOT / "mocks" / "fake_auth" / "production-keys.yaml")}
    packaged = {key.name for key in load_seed(None)}
    assert packaged | {"plain"} == set(keys)
    assert keys["primary"].scopes == ["read", "write", "admin"] and keys["plain"].scopes == ["read", "write"]
    for name in ("expired", "revoked", "website", "limited"):
        assert keys[name].scopes == ["read", "write", "admin"], name
    # Only the scopes follow: each probe key keeps what it is about.
    assert keys["expired"].state == "expired" and keys["website"].service_id == "website"
    assert keys["limited"].rate_limit_per_hour == 10
