"""MLflow's stores in the plan: which parts run, what MLflow is told, where the credentials go."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_contracts.settings import ArtifactStore, BackendStore, MlflowArtifacts
from hokusai_contracts.stack.definition import CORE_PARTS, DEFAULT_PORTS, Part, StackDefinition
from hokusai_contracts.stack.plan import build_plan
from hokusai_contracts.stack.postgres import PostgresInstall
from hokusai_contracts.stack.processes import ProcessSite
from hokusai_contracts.stack.stores import ARTIFACT_ROOT, StoreSecrets, describe_stores

INSTALL = PostgresInstall(Path("/usr/lib/postgresql/15/bin"), "15.18", "postgres",
                          ("--locale", "en_US.UTF-8", "--encoding", "UTF8"), "en_US.UTF-8")


def _site(keys: StoreSecrets) -> ProcessSite:
    return ProcessSite(python="python3", mlflow="mlflow", bind_host="127.0.0.1", ports=DEFAULT_PORTS,
                       hosts=dict.fromkeys(Part, "127.0.0.1"), run_dir="/run", seed_file="/seed.yaml",
                       unreachable_url="http://127.0.0.1:1", mlflow_stores=("sqlite:////run/m.db", "/run/artifacts"),
                       postgres=INSTALL, store_secrets=keys)


def _plan(backend: BackendStore = "sqlite", artifacts: ArtifactStore = "local",
          serving: MlflowArtifacts = "proxied", keys: StoreSecrets | None = None) -> dict[Part, object]:
    definition = StackDefinition(backend_store=backend, artifact_store=artifacts, mlflow_artifacts=serving)
    return dict(build_plan(definition, _site(keys or StoreSecrets.generate())).parts)


def test_the_default_stores_add_no_part_and_keep_sqlite_and_a_local_folder() -> None:
    plan = build_plan(StackDefinition(), _site(StoreSecrets.generate()))
    assert set(plan.parts) == set(CORE_PARTS)
    env = plan.parts[Part.MLFLOW].env
    assert env["MLFLOW_BACKEND_STORE_URI"] == "sqlite:////run/m.db"
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "/run/artifacts"
    assert not any(name.startswith("AWS_") or name == "MLFLOW_S3_ENDPOINT_URL" for name in env)
    assert plan.parts[Part.MLFLOW].needs == ()


def test_both_stores_start_before_mlflow_with_the_credentials_in_environments_only() -> None:
    keys = StoreSecrets.generate()
    definition = StackDefinition(backend_store="postgresql", artifact_store="s3")
    plan = build_plan(definition, _site(keys))
    assert set(plan.parts) == {*CORE_PARTS, Part.POSTGRES, Part.S3}
    mlflow, postgres, s3 = plan.parts[Part.MLFLOW], plan.parts[Part.POSTGRES], plan.parts[Part.S3]
    assert set(mlflow.needs) == {Part.POSTGRES, Part.S3}
    assert mlflow.env["MLFLOW_BACKEND_STORE_URI"] == (
        f"postgresql+psycopg2://mlflow:{keys.postgres_password}@127.0.0.1:5432/postgres")
    assert mlflow.env["MLFLOW_ARTIFACTS_DESTINATION"] == ARTIFACT_ROOT
    assert mlflow.env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert mlflow.env["AWS_SECRET_ACCESS_KEY"] == s3.env["AWS_SECRET_ACCESS_KEY"] == keys.s3_secret_key
    assert postgres.env == {"HOKUSAI_POSTGRES_PASSWORD": keys.postgres_password}
    assert postgres.user == "postgres" and s3.user is None
    secrets = (keys.postgres_password, keys.s3_secret_key, keys.s3_access_key)
    for part in plan.parts.values():
        assert not any(secret in arg for secret in secrets for arg in part.argv), part.part
    # No other part (the proxy, the journals: what the client side runs) hears of them.
    for part in (Part.PROXY, Part.AUTH, Part.AUTH_JOURNAL, Part.MLFLOW_JOURNAL):
        assert not any(secret in value for secret in secrets for value in plan.parts[part].env.values()), part


@pytest.mark.parametrize(("artifacts", "root"), [("s3", ARTIFACT_ROOT), ("local", "file:///run/artifacts")])
def test_root_serves_artifacts_as_productions_entrypoint_does(artifacts: ArtifactStore, root: str) -> None:
    definition = StackDefinition(artifact_store=artifacts, mlflow_artifacts="root")
    env = build_plan(definition, _site(StoreSecrets.generate())).parts[Part.MLFLOW].env
    assert env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] == root
    assert env["MLFLOW_SERVE_ARTIFACTS"] == "true"
    assert "MLFLOW_ARTIFACTS_DESTINATION" not in env  # the entrypoint sets none


def test_a_borrowed_mlflow_starts_no_store() -> None:
    definition = StackDefinition(backend_store="postgresql", artifact_store="s3", mlflow_url="http://127.0.0.1:5")
    assert set(build_plan(definition, _site(StoreSecrets.generate())).parts).isdisjoint({Part.POSTGRES, Part.S3})


def test_the_store_credentials_are_fresh_masked_and_never_in_repr() -> None:
    from hokusai_contracts.domain.redact import redact

    first, second = StoreSecrets.generate(), StoreSecrets.generate()
    assert first != second
    assert first.postgres_password not in repr(first) and first.s3_secret_key not in repr(first)
    assert first.postgres_password not in redact(f"postgresql://mlflow:{first.postgres_password}@host/db")


def test_the_targets_name_both_stores() -> None:
    definition = StackDefinition(backend_store="postgresql", artifact_store="s3", mlflow_artifacts="root")
    assert describe_stores(definition, INSTALL) == ("postgresql 15.18 (en_US.UTF-8)",
                                                    f"s3 ({ARTIFACT_ROOT}, moto), root")
    assert describe_stores(StackDefinition(), None) == ("sqlite", "local, proxied")
