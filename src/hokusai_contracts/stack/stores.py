"""MLflow's stores as parts of the process stack: what runs, and what MLflow is told about them.

``BACKEND_STORE=postgresql`` adds a PostgreSQL server (``postgres.py``), ``ARTIFACT_STORE=s3`` moto's
S3 server with the run's bucket (``s3_server.py``); MLflow starts once they are up (its ``needs``).
``MLFLOW_ARTIFACTS`` says how MLflow hands artifacts out:

- ``proxied`` (default): ``serve-artifacts`` with the store as artifacts destination; clients get
  ``mlflow-artifacts:`` locations and move every byte through MLflow (and so through the proxy);
- ``root``: production's entrypoint (scripts/mlflow-entrypoint.sh): the store as default artifact
  root, ``serve-artifacts`` on, no destination; clients get the store's own locations (``s3://``),
  which a client holding only a Hokusai key cannot write to.

The store's credentials (the database password, the S3 keys) are fresh per run, registered as
secrets (masked wherever they would show), and go into the environments of MLflow and of the store
itself only: never argv, never the client's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from hokusai_contracts.domain.masked import masked_repr
from hokusai_contracts.domain.redact import register_secrets
from hokusai_contracts.stack.definition import BUCKET, HEALTH, Part, StackDefinition
from hokusai_contracts.stack.plan import PartPlan, Site
from hokusai_contracts.stack.postgres import PostgresInstall, postgres_script, postgres_uri

__all__ = ["ARTIFACT_ROOT", "REGION", "StoreSecrets", "describe_stores", "mlflow_store_env", "store_parts"]

REGION = "us-east-1"
#: Where MLflow's artifacts go in the bucket (production: s3://hokusai-mlflow-artifacts-<env>/artifacts).
ARTIFACT_ROOT = f"s3://{BUCKET}/artifacts"


@dataclass(frozen=True)
class StoreSecrets:
    """The stores' credentials of one run: random, never written down."""

    postgres_password: str
    s3_access_key: str
    s3_secret_key: str
    __repr__ = masked_repr()

    def __post_init__(self) -> None:
        register_secrets(self.postgres_password, self.s3_secret_key)

    @classmethod
    def generate(cls) -> StoreSecrets:
        # Hex: safe in a URI's userinfo and in a shell's printf without quoting surprises.
        return cls(secrets.token_hex(16), "AKIA" + secrets.token_hex(8).upper(), secrets.token_hex(20))


def _s3_env(keys: StoreSecrets) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": keys.s3_access_key, "AWS_SECRET_ACCESS_KEY": keys.s3_secret_key,
            "AWS_DEFAULT_REGION": REGION}


def store_parts(definition: StackDefinition, site: Site, postgres: PostgresInstall | None,
                keys: StoreSecrets) -> dict[Part, PartPlan]:
    """The store parts a definition asks for, on the process site."""
    d, parts = definition, {}
    if d.backend_store == "postgresql":
        assert postgres is not None, "find_postgres() runs before the plan is built"
        port = site.ports[Part.POSTGRES]
        script = postgres_script(postgres, f"{site.run_dir}/{Part.POSTGRES.value}/data", site.bind_host, port)
        parts[Part.POSTGRES] = PartPlan(Part.POSTGRES, ("/bin/sh", "-c", script),
                                        {"HOKUSAI_POSTGRES_PASSWORD": keys.postgres_password}, port,
                                        HEALTH[Part.POSTGRES], user=postgres.account)
    if d.artifact_store == "s3":
        port = site.ports[Part.S3]
        parts[Part.S3] = PartPlan(Part.S3, (site.python, "-m", "hokusai_contracts.stack.s3_server", "--host",
                                            site.bind_host, "--port", str(port), "--bucket", BUCKET,
                                            "--region", REGION), _s3_env(keys), port, HEALTH[Part.S3])
    return parts


def mlflow_store_env(definition: StackDefinition, site: Site, keys: StoreSecrets) -> dict[str, str]:
    """MLflow's environment for its stores (the URIs with passwords stay out of its argv)."""
    d = definition
    sqlite, local_artifacts = site.mlflow_stores
    backend = (postgres_uri(site.hosts[Part.POSTGRES], site.ports[Part.POSTGRES], keys.postgres_password)
               if d.backend_store == "postgresql" else sqlite)
    env = {"MLFLOW_BACKEND_STORE_URI": backend}
    store = ARTIFACT_ROOT if d.artifact_store == "s3" else local_artifacts
    if d.mlflow_artifacts == "proxied":
        env["MLFLOW_ARTIFACTS_DESTINATION"] = store
    else:
        # What the entrypoint sets; the proxied routes then serve MLflow's ./mlartifacts (its working folder).
        env |= {"MLFLOW_DEFAULT_ARTIFACT_ROOT": store if d.artifact_store == "s3" else Path(store).as_uri(),
                "MLFLOW_SERVE_ARTIFACTS": "true"}
    if d.artifact_store == "s3":
        env |= {"MLFLOW_S3_ENDPOINT_URL": site.url(Part.S3), **_s3_env(keys)}
    return env


def describe_stores(definition: StackDefinition, postgres: PostgresInstall | None) -> tuple[str, str]:
    """The backend and artifact stores as the report's targets name them."""
    d = definition
    backend = postgres.described if d.backend_store == "postgresql" and postgres else d.backend_store
    artifacts = f"s3 ({ARTIFACT_ROOT}, moto)" if d.artifact_store == "s3" else "local"
    return backend, f"{artifacts}, {d.mlflow_artifacts}"
