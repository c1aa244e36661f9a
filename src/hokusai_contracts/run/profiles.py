"""Deployment profiles: a local stack shaped like a deployment, each value overridable on its own.

``PROFILE=production`` (``--profile``, ``HOKUSAI_PROFILE``) is production as its public repository
(hokusai-data-pipeline at f4c4c38) describes it, with our reference parts where its code is not
given: MLflow 3.9.0 with the image's packages, PostgreSQL and S3 in the entrypoint's shape
(artifacts as the default root, ``MLFLOW_ARTIFACTS=root``), MLflow under ``/mlflow`` behind the
reference admin gateway (unless ``MLFLOW_CMD`` runs one's own), its contract with the gateway's
overlay, the reference proxy forwarding the caller's key as production's does, and keys like
production's: an admin-scoped primary key, a plain platform key that must get the documented 403.

A profile fills only what the user left unset: every value has its own variable (MLFLOW_VERSION,
BACKEND_STORE, MLFLOW_PREFIX, MLFLOW_OVERLAY, SEED...), and an explicit one wins.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts import files

__all__ = ["PROFILES", "Profile", "profile_named"]


@dataclass(frozen=True)
class Profile:
    name: str
    #: LocalOptions field -> the profile's value (a callable is asked when the profile applies: file paths).
    values: Mapping[str, Any] = field(default_factory=dict)
    #: What the plain platform key (the seed's ``plain``) must be answered with: status and body's ``error``.
    plain_key_refusal: tuple[int, str] | None = None

    def apply(self, options: Any, given: Collection[str], warn: Callable[[str], None]) -> list[str]:
        """Set every value of the profile the user did not give; return the names of those set."""
        applied = []
        for name, value in self.values.items():
            if name in given:
                continue
            if not hasattr(options, name):
                # The stores issue's options (BACKEND_STORE...) may not be in this build yet.
                warn(f"PROFILE={self.name}: this build has no {name} option; the run goes without it")
                continue
            setattr(options, name, value() if callable(value) else value)
            applied.append(name)
        return applied


def _gateway_overlay() -> Path:
    return files.contracts_dir() / "mlflow-gateway.overlay.yaml"


def _production_seed() -> Path:
    return files.profile_seed_file("production")


PROFILES: dict[str, Profile] = {
    "production": Profile("production", {
        "mlflow_version": "3.9.0",
        # Dockerfile.mlflow: what the image installs beside MLflow (awscli and prometheus-client left out:
        # nothing a run reaches uses them).
        "mlflow_packages": ("psycopg2-binary", "httpx", "boto3"),
        # The stores issue (24): RDS PostgreSQL 15 and S3, artifacts as the default root, as the entrypoint.
        "backend_store": "postgresql",
        "artifact_store": "s3",
        "mlflow_artifacts": "root",
        "mlflow_prefix": "/mlflow",
        "mlflow_gateway": True,
        "mlflow_overlay": _gateway_overlay,
        "proxy_forwards_credentials": True,
        # MLflow 3.9 (its WSGI bridge) answers a 50 MB artifact PUT long after the last byte on a loaded
        # 2-core machine: 504 with the stack's 3 s and with 10 s (measured); 14-22 s in all. A real proxy
        # waits 30 s (topology.md), and the slow-MLflow fault then waits past that, as past any timeout.
        "proxy_mlflow_timeout_s": 30.0,
        "seed": _production_seed,
    }, plain_key_refusal=(403, "REGISTRY_ADMIN_REQUIRED")),
}


def profile_named(name: str | None, setting: str = "PROFILE") -> Profile | None:
    """The profile called ``name`` (None: none); a UsageError naming the choices for an unknown one."""
    if name is None or not name.strip():
        return None
    found = PROFILES.get(name.strip())
    if found is None:
        raise UsageError(f"{setting}={name!r} is not a profile; choose one of {', '.join(PROFILES)} "
                         "(or leave it empty for the default stack)")
    return found
