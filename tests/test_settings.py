"""Live settings: checked before any request, the key never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.settings import PRODUCTION_PROXY_URL, load_live_settings

KEY = "hk_live_" + "Ab3" * 10 + "Zz"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("HOKUSAI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


def test_production_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", KEY)
    settings = load_live_settings()
    assert settings.proxy_url == PRODUCTION_PROXY_URL
    assert settings.key == KEY and settings.verify is True


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    monkeypatch.setenv("HOKUSAI_API_KEY", KEY)
    monkeypatch.setenv("HOKUSAI_PROXY_URL", "https://127.0.0.1:8443/api/mlflow/")
    monkeypatch.setenv("HOKUSAI_MLFLOW_URL", "")
    monkeypatch.setenv("HOKUSAI_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HOKUSAI_RATE_LIMIT", "2.5")
    monkeypatch.setenv("HOKUSAI_REQUEST_BUDGET", "300")
    settings = load_live_settings()
    assert settings.proxy_url == "https://127.0.0.1:8443/api/mlflow"
    assert settings.mlflow_url == "" and settings.verify == str(bundle)
    assert (settings.rate_limit, settings.request_budget) == (2.5, 300)


def test_dotenv_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"HOKUSAI_API_KEY={KEY}\nHOKUSAI_AUTH_URL=https://auth.example\n")
    monkeypatch.setenv("HOKUSAI_AUTH_URL", "https://auth.override")
    settings = load_live_settings()
    assert settings.key == KEY and settings.auth_url == "https://auth.override"


@pytest.mark.parametrize("key", [None, "", "hk_live_short", "hk_prod_" + "a" * 32, "hk_live_" + "a" * 31 + "!",
                                 "sk_live_" + "a" * 32, "hk_live_" + "a" * 33])
def test_missing_or_malformed_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch,
                                                                 key: str | None) -> None:
    if key is not None:
        monkeypatch.setenv("HOKUSAI_API_KEY", key)
    with pytest.raises(UsageError) as caught:
        load_live_settings()
    message = str(caught.value)
    assert "hk_live_ or hk_test_ followed by 32 letters and digits" in message
    if key and len(key) > 14:
        assert key not in message


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("HOKUSAI_PROXY_URL", "registry.hokus.ai/api/mlflow", "http(s) URL"),
    ("HOKUSAI_AUTH_URL", "ftp://auth", "http(s) URL"),
    ("HOKUSAI_PROXY_URL", "https://host:99999/x", "invalid port"),
    ("HOKUSAI_RATE_LIMIT", "0", "greater than 0"),
    ("HOKUSAI_REQUEST_BUDGET", "many", "valid integer"),
    ("HOKUSAI_CA_BUNDLE", "/nonexistent/ca.pem", "no such file"),
])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv("HOKUSAI_API_KEY", KEY)
    monkeypatch.setenv(name, value)
    with pytest.raises(UsageError, match=name) as caught:
        load_live_settings()
    assert expected in str(caught.value)
    assert KEY not in str(caught.value)


def test_a_host_that_does_not_resolve_is_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    from hokusai_contracts.run.live import check_hosts_resolve

    monkeypatch.setenv("HOKUSAI_API_KEY", KEY)
    monkeypatch.setenv("HOKUSAI_AUTH_URL", "https://auth.hokusai.invalid")
    monkeypatch.setenv("HOKUSAI_PROXY_URL", "http://127.0.0.1:9/api/mlflow")
    monkeypatch.setenv("HOKUSAI_MLFLOW_URL", "")
    with pytest.raises(UsageError, match=r"HOKUSAI_AUTH_URL: host 'auth.hokusai.invalid' does not resolve"):
        check_hosts_resolve(load_live_settings())


@pytest.mark.parametrize(("value", "expected"), [
    ("my-proxy --port {port} 'it''s' \"$HOME\" | tee log", "my-proxy --port {port} 'it''s' \"$HOME\" | tee log"),
    ("", None), ("   ", None),
])
def test_the_proxy_command_comes_from_the_environment_as_given(monkeypatch: pytest.MonkeyPatch, value: str,
                                                                expected: str | None) -> None:
    from hokusai_contracts.settings import load_local_settings

    monkeypatch.setenv("HOKUSAI_PROXY_CMD", value)
    assert load_local_settings().proxy_cmd == expected


def test_env_file_secrets_are_registered_for_masking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hokusai_contracts.domain.redact import forget_secrets, redact

    (tmp_path / ".env").write_text(f"HOKUSAI_API_KEY={KEY}\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\n"
                                   "DB_PASSWORD='p@ss w0rd!!'\nHOKUSAI_AUTH_URL=https://auth.example\n")
    try:
        load_live_settings()
        text = redact("secret wJalrXUtnFEMI/K7MDENG, password p@ss w0rd!!, url https://auth.example")
        assert "wJalrXUtnFEMI/K7MDENG" not in text and "p@ss w0rd!!" not in text
        assert "https://auth.example" in text  # not a secret by its name
    finally:
        forget_secrets()


def test_proxy_timeouts_name_the_upstreams_and_refuse_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    from hokusai_contracts.settings import UpstreamTimeouts, load_local_settings

    assert UpstreamTimeouts.parse("auth=5, mlflow=30") == UpstreamTimeouts(auth=5.0, mlflow=30.0)
    assert UpstreamTimeouts.parse("mlflow=30").of("auth") is None
    assert UpstreamTimeouts.from_env({"PROXY_AUTH_TIMEOUT_S": "2", "PROXY_MLFLOW_TIMEOUT_S": "3"}) == \
        UpstreamTimeouts(auth=2.0, mlflow=3.0)
    monkeypatch.setenv("HOKUSAI_PROXY_TIMEOUTS", "mlflow=30")
    assert load_local_settings().proxy_timeouts == "mlflow=30"
    for bad in ("mlflow", "db=3", "auth=0", "auth=x"):
        monkeypatch.setenv("HOKUSAI_PROXY_TIMEOUTS", bad)
        with pytest.raises(UsageError, match="HOKUSAI_PROXY_TIMEOUTS"):
            load_local_settings()


def test_the_fault_wait_bounds_a_hang_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hokusai_contracts.settings import load_local_settings

    monkeypatch.chdir(tmp_path)  # away from any .env
    assert load_local_settings().fault_wait_s == 10.0
    monkeypatch.setenv("HOKUSAI_FAULT_WAIT_S", "45")
    assert load_local_settings().fault_wait_s == 45.0
    for bad in ("0", "-1", "soon", "601"):
        monkeypatch.setenv("HOKUSAI_FAULT_WAIT_S", bad)
        with pytest.raises(UsageError, match="^HOKUSAI_FAULT_WAIT_S: "):
            load_local_settings()


def test_the_local_settings_read_dotenv_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from hokusai_contracts.settings import load_local_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOKUSAI_ARTIFACT_MB", raising=False)
    (tmp_path / ".env").write_text("HOKUSAI_ARTIFACT_MB=7\nHOKUSAI_PROXY_CMD=from-dotenv --port {port}\n")
    monkeypatch.setenv("HOKUSAI_PROXY_CMD", "from-environment --port {port}")
    settings = load_local_settings()
    assert settings.artifact_mb == 7
    assert settings.proxy_cmd == "from-environment --port {port}"
    assert load_local_settings(env_file=None).artifact_mb == 50


def test_the_stores_default_to_sqlite_and_local_and_refuse_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    from hokusai_contracts.settings import load_local_settings

    settings = load_local_settings()
    assert (settings.backend_store, settings.artifact_store, settings.mlflow_artifacts) == ("sqlite", "local",
                                                                                          "proxied")
    monkeypatch.setenv("HOKUSAI_BACKEND_STORE", "postgresql")
    monkeypatch.setenv("HOKUSAI_ARTIFACT_STORE", "s3")
    monkeypatch.setenv("HOKUSAI_MLFLOW_ARTIFACTS", "root")
    settings = load_local_settings()
    assert (settings.backend_store, settings.artifact_store, settings.mlflow_artifacts) == ("postgresql", "s3", "root")
    for name, bad in (("HOKUSAI_BACKEND_STORE", "mysql"), ("HOKUSAI_ARTIFACT_STORE", "minio"),
                      ("HOKUSAI_MLFLOW_ARTIFACTS", "direct")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(UsageError, match=f"^{name}: "):
            load_local_settings()
        monkeypatch.delenv(name)
