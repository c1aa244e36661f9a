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

from hokusai_contracts.domain.names import SCHEMATHESIS_SUITES, Suite

#: Random examples per operation, after Schemathesis' deterministic coverage phase (boundary values of
#: every parameter) and the contract's own examples: those find the systematic defects a proxy has;
#: more random examples mostly re-ask MLflow the same questions. ``--max-examples`` raises it.
DEFAULT_MAX_EXAMPLES = 5

__all__ = ["CONTEXT_ENV", "DEFAULT_MAX_EXAMPLES", "SuiteContext", "load_context"]

CONTEXT_ENV = "HOKUSAI_SUITE_CONTEXT"


class SuiteContext(BaseModel):
    mode: Literal["local", "live"] = "local"
    proxy_url: str
    auth_url: str
    mlflow_url: str | None = None
    api_key: str
    admin_token: str | None = None
    contracts_dir: Path
    #: What contract file names in findings are relative to.
    display_root: Path
    results_file: Path
    max_examples: int = DEFAULT_MAX_EXAMPLES
    # Live runs only call operations marked `x-live-safe: true` in the contract.
    live_safe_only: bool = False
    suites: list[Suite] = Field(default_factory=lambda: list(SCHEMATHESIS_SUITES))
    request_timeout_s: float = 30.0
    ca_bundle: str | None = None
    #: Contract files read in another one's place, relative to contracts_dir (or absolute): the MLflow
    #: server version's pair for ``mlflow.yaml`` and ``mlflow-proxy.yaml`` (MLFLOW_VERSION).
    contract_files: dict[str, str] = Field(default_factory=dict)
    #: The MLflow side's contract requires a key (a gateway's overlay, MLFLOW_OVERLAY): direct calls carry
    #: ``api_key`` as a Bearer header. Never set for an MLflow whose contract does not ask for one.
    mlflow_requires_key: bool = False

    #: This process runs every ``shards``-th test of its suite, from the ``shard``-th (the runner's SHARDS).
    shard: int = 0
    shards: int = 1

    def contract(self, name: str) -> str:
        return self.contract_files.get(name, name)

    def mlflow_headers(self) -> dict[str, str] | None:
        """What a direct call to MLflow carries: the key only where MLflow's contract requires one."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.mlflow_requires_key else None


def load_context() -> SuiteContext:
    path = os.environ.get(CONTEXT_ENV)
    if not path:
        raise RuntimeError(f"{CONTEXT_ENV} is not set: the suites run through `hokusai-contracts local` or `live`")
    return SuiteContext.model_validate_json(Path(path).read_text("utf-8"))
