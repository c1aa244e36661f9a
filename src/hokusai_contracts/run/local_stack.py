"""The local stack a run's options ask for: one definition for ``local`` and ``serve stack``.

Options name what the user (or a deployment profile, ``run.profiles``) chose; this turns them into
the stack's definition, so the twin ``serve stack --profile production`` starts is the one a
``local --profile production`` run tests.
"""

from __future__ import annotations

from typing import Any

from hokusai_contracts.contracts import files
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.report.model import Targets
from hokusai_contracts.stack.definition import StackDefinition

__all__ = ["faults_proxy_env", "mlflow_side_targets", "stack_definition"]

#: Behind a gateway or one's own command MLflow answers only once both are up (and 3.9's migrations
#: of a fresh store alone took 50 s on a shared 2-core machine).
_BEHIND_SOMETHING_START_S = 180.0
#: The reference proxy's patience with MLflow when MLflow writes artifacts to S3 (a real proxy's, topology.md).
S3_PROXY_MLFLOW_TIMEOUT_S = 30.0
#: The same on the faults' own stack, whose largest upload is 8 MB (220 ms through the proxy to moto's S3
#: on a quiet machine, 2026-12-07): "MLflow slower than the proxy's timeout" waits this out, not 30 s.
S3_FAULTS_PROXY_MLFLOW_TIMEOUT_S = 10.0


def stack_definition(options: Any, mlflow_version: str | None) -> StackDefinition:
    """The definition of ``options`` (a ``LocalOptions``), MLflow at ``mlflow_version`` (None: the pinned one)."""
    proxy_env = dict(StackDefinition().proxy_env)
    if options.proxy_forwards_credentials:
        proxy_env["PROXY_FORWARD_CREDENTIALS"] = "true"
    if options.proxy_mlflow_timeout_s:
        proxy_env["PROXY_MLFLOW_TIMEOUT_S"] = f"{options.proxy_mlflow_timeout_s:g}"
    elif options.artifact_store == "s3":
        # With S3 behind it MLflow spools a whole upload before it answers: MLflow 3.9.0 answered a 50 MB
        # PUT more than 3 s after its last byte on the loaded 2-core machine (the stack's 3 s gave a false
        # 504; measured 2026-12-07). A real proxy waits 30 s (topology.md), as the production profile does.
        proxy_env["PROXY_MLFLOW_TIMEOUT_S"] = f"{S3_PROXY_MLFLOW_TIMEOUT_S:g}"
    behind = options.mlflow_gateway or options.mlflow_cmd is not None
    return StackDefinition(
        auth_profile=options.auth_profile, mlflow_fault=options.mlflow_fault, fault_delay_s=options.fault_delay_s,
        mlflow_version=mlflow_version, mlflow_cmd=options.mlflow_cmd, mlflow_prefix=options.mlflow_prefix,
        mlflow_packages=options.mlflow_packages, seed_file=options.seed or files.seed_file(),
        mlflow_gateway=options.mlflow_gateway and options.mlflow_cmd is None, proxy_env=proxy_env,
        backend_store=options.backend_store, artifact_store=options.artifact_store,
        mlflow_artifacts=options.mlflow_artifacts,
        start_timeout_s=_BEHIND_SOMETHING_START_S if behind else StackDefinition.start_timeout_s)


def faults_proxy_env(options: Any, definition: StackDefinition) -> dict[str, str]:
    """The proxy's settings on the faults' own stack: the run's, but no 50 MB upload to be patient for."""
    env = dict(definition.proxy_env)
    if options.artifact_store == "s3" and not options.proxy_mlflow_timeout_s:
        env["PROXY_MLFLOW_TIMEOUT_S"] = f"{S3_FAULTS_PROXY_MLFLOW_TIMEOUT_S:g}"
    return env


def mlflow_side_targets(targets: Targets, options: Any, definition: StackDefinition, mlflow: Contract) -> Targets:
    """The report's targets with the MLflow side: the profile, what ran there, under which prefix, judged how."""
    ran = options.mlflow_cmd or ("reference gateway + mlflow server" if definition.mlflow_gateway else "mlflow server")
    return targets.model_copy(update={
        "profile": options.profile, "mlflow": ran, "mlflow_prefix": _prefix_shown(definition),
        "mlflow_overlay": mlflow.display_path.partition(" + ")[2] or None,
        "seed": str(options.seed) if options.seed else None})


def _prefix_shown(definition: StackDefinition) -> str | None:
    """MLFLOW_PREFIX as the report shows it, saying so when MLflow's REST API is not under it (before 3.12)."""
    prefix = definition.mlflow_prefix
    if prefix and not definition.mlflow_api_prefix:
        return f"{prefix} (UI, ajax-api and health; the REST API at the root: MLflow before 3.12)"
    return prefix or None
