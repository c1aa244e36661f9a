"""Settings read from the environment, in one place.

Explicit command-line options win over these; these win over defaults. The
fake auth service reads its own ``FAKE_AUTH_*`` settings (``FAKE_AUTH_FAULT``,
``FAKE_AUTH_FAULT_DELAY_S``...) from the same environment, which the stack passes on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._errors import UsageError

__all__ = ["LocalSettings", "load_local_settings", "settings_error"]


class LocalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOKUSAI_", extra="ignore")

    #: A fault between the proxy and MLflow for the whole run: slow, error (500), down (unreachable)
    #: or drop (the connection cut mid-upload or before the answer).
    mlflow_fault: Literal["none", "slow", "error", "down", "drop"] = "none"
    #: How long "slow" waits, in seconds: beyond the proxy's timeout.
    fault_delay_s: float = Field(default=6.0, gt=0, le=600)
    #: Size of the large artifact sent through the proxy and read back (0 skips the check).
    artifact_mb: int = Field(default=50, ge=0, le=4096)


def load_local_settings() -> LocalSettings:
    try:
        return LocalSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None


def settings_error(exc: ValidationError, secret: frozenset[str] = frozenset()) -> UsageError:
    """One line naming the ``HOKUSAI_*`` variable and what is wrong; values of ``secret`` ones are not shown."""
    problem = exc.errors()[0]
    name = "HOKUSAI_" + str(problem["loc"][0]).upper()
    message = str(problem["msg"]).removeprefix("Value error, ")
    shown = problem.get("input")
    return UsageError(f"{name}: {message}" + ("" if name in secret or shown is None else f" (got {shown!r})"))
