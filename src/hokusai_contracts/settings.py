"""Settings read from the environment, in one place: the local run's and the live run's.

Every field is ``HOKUSAI_<NAME>``. Explicit command-line options win over these; these win over
defaults. Both runs also read a ``.env`` file in the working directory (it is git-ignored); the
environment wins over it. Everything is checked before the first request: a bad key or URL never
reaches the network. The fake auth service reads its own ``FAKE_AUTH_*`` settings
(``FAKE_AUTH_FAULT``, ``FAKE_AUTH_FAULT_DELAY_S``...) from the same environment, which the stack
passes on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values  # python-dotenv: what pydantic-settings reads .env with
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.durations import parse_duration
from hokusai_contracts.domain.redact import KEY_PATTERN, mask, register_secrets

__all__ = ["KEY_FORMAT", "ArtifactStore", "BackendStore", "CacheSettings", "LiveSettings", "LocalSettings",
           "MlflowArtifacts", "UpstreamTimeouts", "cache_root", "env_file_secrets", "http_url", "load_cache_settings",
           "load_live_settings", "load_local_settings", "mlflow_prefix", "settings_error"]
__all__ += ["WatchSettings", "load_watch_settings", "webhook_url"]

#: MLflow's stores in the local stack (BACKEND_STORE, ARTIFACT_STORE, MLFLOW_ARTIFACTS); defaults first.
BackendStore = Literal["sqlite", "postgresql"]
ArtifactStore = Literal["local", "s3"]
MlflowArtifacts = Literal["proxied", "root"]


class LocalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOKUSAI_", env_file=".env", extra="ignore")

    #: A fault between the proxy and MLflow for the whole run: slow, error (500), down (unreachable)
    #: or drop (the connection cut mid-upload or before the answer).
    mlflow_fault: Literal["none", "slow", "error", "down", "drop"] = "none"
    #: How long "slow" waits, in seconds: beyond the proxy's timeout.
    fault_delay_s: float = Field(default=6.0, gt=0, le=600)
    #: Size of the large artifact sent through the proxy and read back (0 skips the check).
    artifact_mb: int = Field(default=50, ge=0, le=4096)
    #: The MLflow server version to run (``make contract-local MLFLOW_VERSION=3.9.0``); unset: the pinned one.
    mlflow_version: str | None = None
    #: MLflow client versions to run the registration scenario with, comma-separated (``MLFLOW_CLIENTS``).
    mlflow_clients: str | None = None
    #: Your proxy's command when ``--proxy-cmd`` is not given: how ``make contract-local PROXY_CMD=...``
    #: hands it over, past make's and the shell's quoting. Empty means the reference proxy.
    proxy_cmd: str | None = None
    #: The upstream timeouts of a proxy that has its own (``auth=5,mlflow=30``): the slow-upstream
    #: faults wait longer than these. Unset: the PROXY_AUTH_TIMEOUT_S / PROXY_MLFLOW_TIMEOUT_S the stack passes.
    proxy_timeouts: str | None = None
    #: How long past a fault's delay a fault case waits for the proxy's answer before it calls the proxy
    #: hung (HOKUSAI_FAULT_WAIT_S): raise it for a proxy that retries its upstream before it answers.
    fault_wait_s: float = Field(default=10.0, gt=0, le=600)
    #: MLflow's backend store (``BACKEND_STORE``): SQLite in the stack's directory, or a PostgreSQL
    #: server started on loopback as production's RDS PostgreSQL 15 (``stack/postgres.py``).
    backend_store: BackendStore = "sqlite"
    #: Where MLflow keeps artifacts (``ARTIFACT_STORE``): a local folder, or an S3 bucket on a moto
    #: server on loopback (``stack/s3.py``).
    artifact_store: ArtifactStore = "local"
    #: How MLflow serves them (``MLFLOW_ARTIFACTS``): ``proxied`` (an artifacts destination, clients get
    #: ``mlflow-artifacts:`` locations) or ``root`` (production's entrypoint: the store as default
    #: artifact root, serve-artifacts without a destination, clients get the store's own locations).
    mlflow_artifacts: MlflowArtifacts = "proxied"

    #: MLFLOW_CMD: a command run in the MLflow part's place (placeholders: stack.plan.MLFLOW_CMD_PLACEHOLDERS).
    mlflow_cmd: str | None = None
    #: MLFLOW_PACKAGES: pip requirements added to the MLflow environment, comma-separated.
    mlflow_packages: str | None = None
    #: MLFLOW_PREFIX: the path MLflow serves under (production: /mlflow).
    mlflow_prefix: str | None = None
    #: MLFLOW_OVERLAY: an overlay of MLflow's contract (the security the MLflow side requires).
    mlflow_overlay: Path | None = None
    #: SEED: the fake auth service's key descriptions (keys.yaml's shape) instead of the packaged ones.
    seed_file: Path | None = None
    #: PROFILE: a deployment profile (run.profiles: production) whose values fill what is left unset.
    profile: str | None = None
    #: MLFLOW_GATEWAY: the reference admin gateway in front of MLflow (the production profile's default).
    mlflow_gateway: bool | None = None
    #: PROXY_FORWARD_CREDENTIALS: the reference proxy forwards the caller's key to MLflow, as production's.
    proxy_forward_credentials: bool | None = None

    @field_validator("mlflow_overlay", "seed_file", mode="before")
    @classmethod
    def _blank_path(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("mlflow_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return mlflow_prefix(value) if value is not None else None

    @field_validator("proxy_timeouts")
    @classmethod
    def _timeouts(cls, value: str | None) -> str | None:
        if value and value.strip():
            UpstreamTimeouts.parse(value)  # raises a ValueError naming the bad item
            return value
        return None

    @field_validator("proxy_cmd", "mlflow_cmd", "mlflow_packages", "profile")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None


def mlflow_prefix(value: str) -> str:
    """MLFLOW_PREFIX as a path prefix: "" or ``/word[/word...]`` without a trailing slash."""
    value = value.strip().rstrip("/")
    if value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
        raise ValueError("must be a path such as /mlflow (letters, digits, . _ ~ - between slashes)")
    return value


class CacheSettings(BaseSettings):
    """Where per-version MLflow environments and on-demand contracts are kept."""

    model_config = SettingsConfigDict(env_prefix="HOKUSAI_", extra="ignore", env_ignore_empty=True)

    #: HOKUSAI_CACHE_DIR; unset: $XDG_CACHE_HOME/hokusai-contracts, else ~/.cache/hokusai-contracts.
    cache_dir: Path | None = None


def load_cache_settings() -> CacheSettings:
    try:
        return CacheSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None


def cache_root() -> Path:
    """Where per-version MLflow environments and on-demand contracts go (``HOKUSAI_CACHE_DIR``)."""
    chosen = load_cache_settings().cache_dir
    if chosen is not None:
        return chosen.expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hokusai-contracts"


def load_local_settings(env_file: Path | None = Path(".env")) -> LocalSettings:
    """The local run's settings: the environment, then ``env_file`` (like the live run's), then defaults."""
    try:
        settings = LocalSettings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise settings_error(exc) from None
    register_secrets(*env_file_secrets(env_file))
    return settings


def settings_error(exc: ValidationError, secret: frozenset[str] = frozenset()) -> UsageError:
    """One line naming the ``HOKUSAI_*`` variable and what is wrong; values of ``secret`` ones are not shown."""
    problem = exc.errors()[0]
    name = "HOKUSAI_" + str(problem["loc"][0]).upper()
    message = str(problem["msg"]).removeprefix("Value error, ")
    shown = problem.get("input")
    return UsageError(f"{name}: {message}" + ("" if name in secret or shown is None else f" (got {shown!r})"))

KEY_FORMAT = "hk_live_ or hk_test_ followed by 32 letters and digits (40 characters in all)"

# The production endpoints of ../shared/reference/topology.md.
PRODUCTION_PROXY_URL = "https://registry.hokus.ai/api/mlflow"
PRODUCTION_AUTH_URL = "https://auth.hokus.ai"
PRODUCTION_MLFLOW_URL = "https://registry.hokus.ai/mlflow"


def http_url(value: str) -> str:
    """``value`` without a trailing slash; ``ValueError`` unless it is a usable http(s) base URL."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://host/path")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    try:
        parts.port  # noqa: B018 - an out-of-range port raises here
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


class LiveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOKUSAI_", env_file=".env", extra="ignore")

    #: The third party's API key, sent as ``Authorization: Bearer`` to the proxy only.
    api_key: SecretStr | None = None
    #: The MLflow tracking URI third parties use: the proxy with its mount.
    proxy_url: str = PRODUCTION_PROXY_URL
    auth_url: str = PRODUCTION_AUTH_URL
    #: MLflow without the proxy, for health and differential reads; "" skips the direct checks.
    mlflow_url: str = PRODUCTION_MLFLOW_URL
    #: A PEM file of CA certificates to trust instead of the system's (private CAs, test setups).
    ca_bundle: Path | None = None
    #: MLFLOW_OVERLAY: the MLflow side's security (contracts/mlflow-gateway.overlay.yaml for production's
    #: gateway): direct reads carry the key where it requires one, and are judged by it.
    mlflow_overlay: Path | None = None
    #: Requests per second across every host, the tool's own and Schemathesis' together.
    rate_limit: float = Field(default=5.0, gt=0, le=100)
    #: The run stops sending after this many requests; the rest is skipped and said so.
    request_budget: int = Field(default=1500, ge=20, le=100_000)
    #: Schemathesis examples per operation in the read-only suites.
    live_max_examples: int = Field(default=5, ge=1, le=100)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    #: Samples per latency measured for the performance section.
    perf_samples: int = Field(default=5, ge=1, le=100)
    #: A performance.json of an earlier run to compare with; a p95 slower by more than the
    #: tolerance (0.5 = 50 %) is a regression.
    perf_baseline: Path | None = None
    perf_tolerance: float = Field(default=0.5, ge=0, le=100)

    @field_validator("proxy_url", "auth_url")
    @classmethod
    def _required_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("mlflow_url")
    @classmethod
    def _optional_url(cls, value: str) -> str:
        return http_url(value) if value.strip() else ""

    @field_validator("ca_bundle")
    @classmethod
    def _readable_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file; point it at a PEM file of CA certificates")
        return value

    @field_validator("mlflow_overlay", mode="before")
    @classmethod
    def _blank_overlay(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("perf_baseline")
    @classmethod
    def _readable_baseline(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file; use the performance.json of an earlier live run")
        return value

    @property
    def key(self) -> str:
        assert self.api_key is not None
        return self.api_key.get_secret_value()

    @property
    def verify(self) -> str | bool:
        return str(self.ca_bundle) if self.ca_bundle else True


def load_live_settings(env_file: Path | None = Path(".env")) -> LiveSettings:
    """Read and check the settings; a ``UsageError`` says what is wrong and what to set."""
    try:
        settings = LiveSettings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise settings_error(exc, secret=frozenset({"HOKUSAI_API_KEY"})) from None
    if settings.api_key is None or not settings.key:
        raise UsageError("HOKUSAI_API_KEY is not set: give the API key to test with, e.g. "
                         "`HOKUSAI_API_KEY=hk_live_... make contract-live` (or put it in a git-ignored .env). "
                         f"Expected: {KEY_FORMAT}.")
    if not KEY_PATTERN.fullmatch(settings.key):
        raise UsageError(f"HOKUSAI_API_KEY {_describe_bad_key(settings.key)} is not a Hokusai API key: expected "
                         f"{KEY_FORMAT}. Nothing was sent.")
    register_secrets(settings.key, *env_file_secrets(env_file))
    return settings


#: Names of .env entries whose values are masked in everything the run writes.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def env_file_secrets(env_file: Path | None) -> list[str]:
    """The values of ``env_file`` entries named like secrets (``*_KEY``, ``*_TOKEN``, ``*PASSWORD``...).

    A .env often holds more than the tool reads (a cloud token beside the API key); none of it may
    reach a report or log whole, even if it only ever shows up in an answer or an error message.
    """
    if env_file is None or not env_file.is_file():
        return []
    return [value for name, value in dotenv_values(env_file).items() if value and _SECRET_NAME.search(name)]


def _describe_bad_key(key: str) -> str:
    # Never echo the value: a malformed key is still somebody's secret (or a paste of one).
    if len(key) > 14:
        return f"{mask(key)} ({len(key)} characters)"
    return f"({len(key)} characters)"


@dataclass(frozen=True)
class UpstreamTimeouts:
    """How long the proxy under test waits for each upstream, in seconds (``None``: not declared)."""

    auth: float | None = None
    mlflow: float | None = None

    def of(self, part: str) -> float | None:
        return self.auth if part == "auth" else self.mlflow if part == "mlflow" else None

    @classmethod
    def parse(cls, text: str) -> UpstreamTimeouts:
        """``auth=5,mlflow=30`` (HOKUSAI_PROXY_TIMEOUTS); either may be left out."""
        values: dict[str, float] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            name, _, number = item.partition("=")
            try:
                seconds = float(number)
            except ValueError:
                seconds = -1.0
            if name.strip() not in ("auth", "mlflow") or not 0 < seconds <= 600:
                raise ValueError(f"{item!r} is not auth=SECONDS or mlflow=SECONDS "
                                 "(0 < SECONDS <= 600); write e.g. auth=5,mlflow=30")
            values[name.strip()] = seconds
        return cls(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UpstreamTimeouts:
        """What the stack passes the proxy as PROXY_AUTH_TIMEOUT_S / PROXY_MLFLOW_TIMEOUT_S."""
        def number(name: str) -> float | None:
            try:
                return float(env[name])
            except (KeyError, ValueError):
                return None
        return cls(auth=number("PROXY_AUTH_TIMEOUT_S"), mlflow=number("PROXY_MLFLOW_TIMEOUT_S"))


class WatchSettings(BaseSettings):
    """``hokusai-contracts watch``: how often, how much, where the metrics, history and alerts go.

    The rounds themselves are live runs: ``LiveSettings`` (the key, URLs, rate limit) apply to each.
    """

    model_config = SettingsConfigDict(env_prefix="HOKUSAI_", env_file=".env", extra="ignore")

    #: Time between the starts of two rounds (``20s``, ``15m``, ``1h``).
    watch_every: str = "15m"
    #: Requests the watch sends in any hour, all rounds together; a round gets what is left (at most
    #: HOKUSAI_REQUEST_BUDGET) and waits when too little is left.
    watch_requests_per_hour: int = Field(default=2000, ge=40, le=1_000_000)
    #: History kept (rounds in the database and their reports), by age.
    watch_keep: str = "30d"
    #: The SQLite history; unset: REPORT_DIR/watch.sqlite.
    watch_state: Path | None = None
    #: Prometheus' /metrics and the status page at /.
    metrics_port: int = Field(default=9477, ge=1, le=65535)
    #: Where the metrics port listens: loopback unless told (0.0.0.0 in a container Prometheus scrapes).
    metrics_host: str = "127.0.0.1"
    #: Gets a JSON POST when a cause appears (firing) and when it is gone (resolved).
    alert_webhook: str | None = None

    @field_validator("watch_every", "watch_keep")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # raises a ValueError saying how to write one
        return value

    @field_validator("alert_webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return webhook_url(value) if value and value.strip() else None


def webhook_url(value: str) -> str:
    """``value`` if an http(s) URL with a host, else ``ValueError`` (which never echoes it: it may hold a token)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://hooks.example.com/...")
    return value.strip()


def load_watch_settings(env_file: Path | None = Path(".env")) -> WatchSettings:
    try:
        settings = WatchSettings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise settings_error(exc, secret=frozenset({"HOKUSAI_ALERT_WEBHOOK"})) from None
    if settings.alert_webhook:
        # A webhook URL is a credential (Slack's carries its token in the path): masked wherever it shows.
        register_secrets(settings.alert_webhook)
    return settings
