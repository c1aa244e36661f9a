"""What a suite run needs to know, handed from the runner to the pytest session.

The runner writes it to a file readable only by the user (it holds the API
key) and names the file in ``HOKUSAI_SUITE_CONTEXT``; the suite modules read
it at import, because Schemathesis builds its tests from a loaded schema.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["CONTEXT_ENV", "SuiteContext", "load_context"]

CONTEXT_ENV = "HOKUSAI_SUITE_CONTEXT"


class SuiteContext(BaseModel):
    mode: Literal["local", "live"] = "local"
    proxy_url: str
    auth_url: str
    mlflow_url: str | None = None
    api_key: str
    admin_token: str | None = None
    contracts_dir: Path
    # The MLflow server version's pair, relative to contracts_dir (or absolute, generated on demand).
    mlflow_contract: str = "mlflow.yaml"
    proxy_contract: str = "mlflow-proxy.yaml"
    results_file: Path
    max_examples: int = 10
    # Live runs only call operations marked `x-live-safe: true` in the contract.
    live_safe_only: bool = False
    suites: list[str] = Field(default_factory=lambda: ["auth-service", "mlflow-direct", "proxy", "stateful"])
    request_timeout_s: float = 30.0
    ca_bundle: str | None = None


def load_context() -> SuiteContext:
    path = os.environ.get(CONTEXT_ENV)
    if not path:
        raise RuntimeError(f"{CONTEXT_ENV} is not set: the suites run through `hokusai-contracts local` or `live`")
    return SuiteContext.model_validate_json(Path(path).read_text("utf-8"))
