"""The stack a local run asks for: the reference proxy's patience with MLflow follows the artifact store."""

from __future__ import annotations

from hokusai_contracts.run.local_options import LocalOptions
from hokusai_contracts.run.local_stack import (
    S3_FAULTS_PROXY_MLFLOW_TIMEOUT_S,
    S3_PROXY_MLFLOW_TIMEOUT_S,
    faults_proxy_env,
    stack_definition,
)


def _mlflow_timeout(options: LocalOptions) -> str:
    return stack_definition(options, None).proxy_env["PROXY_MLFLOW_TIMEOUT_S"]


def test_s3_behind_mlflow_gets_a_real_proxys_patience_and_an_explicit_one_wins() -> None:
    # Local artifacts: the stack's short timeout, so the slow-MLflow fault ends in seconds.
    assert _mlflow_timeout(LocalOptions()) == "3"
    # S3: MLflow answers a large upload only once it has spooled it to the store.
    assert _mlflow_timeout(LocalOptions(artifact_store="s3")) == f"{S3_PROXY_MLFLOW_TIMEOUT_S:g}" == "30"
    assert _mlflow_timeout(LocalOptions(artifact_store="s3", proxy_mlflow_timeout_s=12.5)) == "12.5"


def _faults_mlflow_timeout(options: LocalOptions) -> str:
    return faults_proxy_env(options, stack_definition(options, None))["PROXY_MLFLOW_TIMEOUT_S"]


def test_the_faults_own_proxy_is_patient_for_their_8_mb_not_the_runs_50_mb() -> None:
    # "MLflow slower than the proxy's timeout" lasts that timeout: 30 s of every run on S3 otherwise.
    assert _faults_mlflow_timeout(LocalOptions(artifact_store="s3")) == f"{S3_FAULTS_PROXY_MLFLOW_TIMEOUT_S:g}" == "10"
    # Declared (a profile's, a user's): the proxy's real patience, on both stacks.
    assert _faults_mlflow_timeout(LocalOptions(artifact_store="s3", proxy_mlflow_timeout_s=30.0)) == "30"
    assert _faults_mlflow_timeout(LocalOptions()) == "3"
