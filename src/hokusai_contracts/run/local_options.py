"""What ``make contract-local`` is asked to do: ``LocalOptions``, a plain record the command fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hokusai_contracts.checks.scenario import ModelKind
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.run.mlflow_diff import ContractsFor, committed_only
from hokusai_contracts.settings import ArtifactStore, BackendStore, MlflowArtifacts

__all__ = ["LocalOptions"]


@dataclass
class LocalOptions:
    report_dir: Path = Path("reports")
    proxy_cmd: str | None = None
    auth_profile: str = "production"
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])
    # Schemathesis suites to run (None: ``chosen_suites``' default); the hop journals are judged
    # whatever this holds, since they are what the scenario's traffic is checked by.
    suites: list[Suite] | None = None
    full: bool = False
    max_examples: int | None = None
    faults: bool = True
    mlflow_fault: str = "none"
    fault_delay_s: float = 6.0
    # HOKUSAI_PROXY_TIMEOUTS (auth=5,mlflow=30): a proxy's own upstream timeouts; else the stack's.
    proxy_timeouts: str | None = None
    # HOKUSAI_FAULT_WAIT_S: how long past a fault's delay a fault case waits before it calls the proxy hung.
    fault_wait_s: float = 10.0
    artifact_mb: int = 50
    stack: str = "process"  # or "docker"
    # Add what the reference proxy sends, and contracts/consumers/mlflow-proxy.yaml lacks, to that
    # committed file (UPDATE_CONSUMERS=1); without it a run only warns.
    update_consumers: bool = False
    proxy_image: str | None = None
    #: MLFLOW_VERSION (None: the pinned one) and MLFLOW_CLIENTS (run/mlflow_versions.py).
    mlflow_version: str | None = None
    mlflow_clients: list[str] = field(default_factory=list)
    #: How each version's contracts are found: the command passes one that generates what is not committed.
    contracts_for: ContractsFor = committed_only
    #: REPLAY=path.har: a recording whose client->proxy exchanges are sent again, in order (checks.replay).
    replay: Path | None = None
    #: BACKEND_STORE, ARTIFACT_STORE, MLFLOW_ARTIFACTS: the stores MLflow runs on (StackDefinition's fields).
    backend_store: BackendStore = "sqlite"
    artifact_store: ArtifactStore = "local"
    mlflow_artifacts: MlflowArtifacts = "proxied"
