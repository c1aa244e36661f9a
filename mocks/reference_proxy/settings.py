"""Settings of the reference proxy.

The names are the ones ``PROXY_CMD`` proxies receive (``PORT``,
``HOKUSAI_AUTH_SERVICE_URL``, ``MLFLOW_SERVER_URL``, ``AUTH_SERVICE_ID``), so
the reference proxy is configured exactly like a user's own.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProxySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("host", "HOST"))
    port: int = Field(default=8080, validation_alias=AliasChoices("port", "PORT"))
    auth_url: str = Field(
        default="http://127.0.0.1:8001",
        validation_alias=AliasChoices("auth_url", "HOKUSAI_AUTH_SERVICE_URL"),
    )
    mlflow_url: str = Field(
        default="http://127.0.0.1:5000",
        validation_alias=AliasChoices("mlflow_url", "MLFLOW_SERVER_URL"),
    )
    # Incident 2: the service id was hard-coded as "ml-platform"; it is a setting.
    service_id: str = Field(default="platform", validation_alias=AliasChoices("service_id", "AUTH_SERVICE_ID"))
    cache_ttl_s: float = Field(default=60.0, validation_alias=AliasChoices("cache_ttl_s", "PROXY_CACHE_TTL_S"))
    auth_timeout_s: float = Field(default=5.0, validation_alias=AliasChoices("auth_timeout_s", "PROXY_AUTH_TIMEOUT_S"))
    # A read timeout between chunks, not a total: large artifact uploads take as long as they take.
    mlflow_timeout_s: float = Field(
        default=30.0, validation_alias=AliasChoices("mlflow_timeout_s", "PROXY_MLFLOW_TIMEOUT_S")
    )
    mounts: tuple[str, ...] = ("/api/mlflow", "/mlflow")
    # Production's proxy since 2026-06-30 forwards the caller's Authorization (and X-API-Key) to MLflow
    # on purpose: an admin gateway there validates it again. Off by default: the contract's proxy drops it.
    forward_credentials: bool = Field(
        default=False, validation_alias=AliasChoices("forward_credentials", "PROXY_FORWARD_CREDENTIALS")
    )
