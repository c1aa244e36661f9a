"""``hokusai-contracts local``: the scenario, the suites and the hop journals against the local stack."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.suites.context import DEFAULT_MAX_EXAMPLES
from hokusai_contracts.commands import argtypes
from hokusai_contracts.commands.argtypes import REPORT_DIR_HELP, models, suites
from hokusai_contracts.commands.outcome import print_outcome
from hokusai_contracts.contracts import files

__all__ = ["add_local_parser", "local"]


def add_local_parser(commands: Any) -> None:
    local = commands.add_parser("local", help="run the scenario and the suites against the local stack")
    local.add_argument("--report-dir", type=Path, default=Path("reports"), help=REPORT_DIR_HELP)
    local.add_argument("--stack", choices=["process", "docker"], default="process",
                       help="run the stack's parts as processes, or as containers with docker compose")
    local.add_argument("--proxy-cmd", help="your proxy's command; placeholders {port} {auth_url} {mlflow_url} "
                                           "(default: HOKUSAI_PROXY_CMD)")
    local.add_argument("--proxy-image", help="with --stack docker: your proxy's image (default: the reference "
                                             "proxy's)")
    local.add_argument("--auth-profile", choices=["production", "contract"], default="production",
                       help="how the fake auth service answers bad keys (default: production, as the real one)")
    local.add_argument("--models", type=models, default=None,
                       help="comma-separated model kinds for the scenario: logistic,random_forest,pipeline "
                            "(default: logistic)")
    local.add_argument("--suites", type=suites, default=None,
                       help="comma-separated Schemathesis suites (auth-service,mlflow-direct,proxy,stateful); "
                            "'none' runs only the scenario and the hop journals (default: auth-service,proxy,"
                            "stateful, and mlflow-direct with --full or an unreviewed MLFLOW_VERSION)")
    local.add_argument("--full", action="store_true",
                       help="also the slow parts: concurrency, and the mlflow-direct suite (MLflow fuzzed itself)")
    local.add_argument("--no-faults", action="store_true", help="skip the faults suite")
    local.add_argument("--max-examples", type=int, help="Schemathesis random examples per operation, after "
                       f"the deterministic coverage phase (default: {DEFAULT_MAX_EXAMPLES})")
    local.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)
    local.add_argument("--mlflow-version", help="the MLflow server's version (default: HOKUSAI_MLFLOW_VERSION, else "
                                                "the pinned one); built into a cached environment on first use")
    local.add_argument("--mlflow-clients", help="MLflow client versions to run the scenario with, comma-separated "
                                                "(default: HOKUSAI_MLFLOW_CLIENTS)")
    local.add_argument("--mlflow-cmd", help="a command run in the MLflow part's place; placeholders {port} "
                       "{backend_store_uri} {default_artifact_root} {artifacts_destination} {auth_url} {mlflow_python} "
                       "(default: HOKUSAI_MLFLOW_CMD)")
    local.add_argument("--mlflow-prefix", type=argtypes.mlflow_prefix,
                       help="the path MLflow serves under, e.g. /mlflow (default: HOKUSAI_MLFLOW_PREFIX, else none)")
    local.add_argument("--mlflow-overlay", type=Path, metavar="PATH",
                       help="an overlay of MLflow's contract: the security the MLflow side requires, e.g. "
                            "contracts/mlflow-gateway.overlay.yaml (default: HOKUSAI_MLFLOW_OVERLAY)")
    local.add_argument("--seed", type=Path, metavar="PATH",
                       help="the fake auth service's key descriptions (keys.yaml's fields: scopes...); needs a "
                            "platform key named primary (default: HOKUSAI_SEED_FILE)")
    local.add_argument("--profile", help="a deployment profile whose values fill what is left unset: production "
                                         "(MLflow 3.9.0 behind an admin gateway under /mlflow, PostgreSQL and S3, "
                                         "production's keys) (default: HOKUSAI_PROFILE)")
    local.add_argument("--update-consumers", action="store_true",
                       help="add what the reference proxy sends and contracts/consumers/mlflow-proxy.yaml lacks to "
                            "that file (make contract-local UPDATE_CONSUMERS=1); without it a run only warns")
    local.add_argument("--replay", type=Path, metavar="PATH",
                       help="replay the client->proxy exchanges of a recording (HAR, JSONL, NDJSON) against the local "
                            "stack, in order, the seeded key in the placeholder's place (make contract-local "
                            "REPLAY=path.har)")
    local.add_argument("--backend-store", choices=["sqlite", "postgresql"], default=None,
                       help="MLflow's backend store: sqlite, or a PostgreSQL server started on loopback as "
                            "production's (default: HOKUSAI_BACKEND_STORE, else sqlite)")
    local.add_argument("--artifact-store", choices=["local", "s3"], default=None,
                       help="MLflow's artifact store: a local folder, or an S3 bucket on a moto server on loopback "
                            "(default: HOKUSAI_ARTIFACT_STORE, else local)")
    local.add_argument("--mlflow-artifacts", choices=["proxied", "root"], default=None,
                       help="proxied: MLflow serves artifacts with a destination (mlflow-artifacts: locations); "
                            "root: production's entrypoint, the store as default artifact root (default: "
                            "HOKUSAI_MLFLOW_ARTIFACTS, else proxied)")


def local(args: argparse.Namespace) -> int:
    from hokusai_contracts.run.local import LocalOptions, run_local
    from hokusai_contracts.settings import load_local_settings

    settings = load_local_settings()
    # The option wins over HOKUSAI_PROXY_CMD (what `make contract-local PROXY_CMD=...` sets).
    proxy_cmd = args.proxy_cmd if args.proxy_cmd is not None else settings.proxy_cmd

    if args.stack == "docker" and proxy_cmd:
        raise UsageError("PROXY_CMD runs a process, which the docker stack cannot use: give your proxy's image "
                         "with PROXY_IMAGE=... (or drop STACK=docker)")
    if args.stack == "docker" and (args.mlflow_artifacts or settings.mlflow_artifacts) == "root":
        raise UsageError("MLFLOW_ARTIFACTS=root runs with the process stack only for now: drop STACK=docker (or "
                         "MLFLOW_ARTIFACTS)")
    options = LocalOptions(report_dir=args.report_dir, proxy_cmd=proxy_cmd, auth_profile=args.auth_profile,
                           full=args.full, max_examples=args.max_examples, faults=not args.no_faults,
                           mlflow_fault=settings.mlflow_fault, fault_delay_s=settings.fault_delay_s,
                           proxy_timeouts=settings.proxy_timeouts,
                           fault_wait_s=settings.fault_wait_s,
                           artifact_mb=settings.artifact_mb, stack=args.stack, proxy_image=args.proxy_image,
                           update_consumers=args.update_consumers, replay=args.replay,
                           mlflow_version=args.mlflow_version or settings.mlflow_version,
                           backend_store=args.backend_store or settings.backend_store,
                           artifact_store=args.artifact_store or settings.artifact_store,
                           mlflow_artifacts=args.mlflow_artifacts or settings.mlflow_artifacts)
    _mlflow_side(options, args, settings)
    clients = args.mlflow_clients or settings.mlflow_clients
    if clients:
        from hokusai_contracts.contracts.mlflow_versions import parse_versions

        options.mlflow_clients = parse_versions(clients, "MLFLOW_CLIENTS")
    if options.mlflow_version or options.mlflow_clients:
        from hokusai_contracts.commands.mlflow_contracts import ensure_mlflow_contracts

        options.contracts_for = lambda version, setting: ensure_mlflow_contracts(version, setting, print)
    if args.suites is not None:
        options.suites = args.suites
    if args.models:
        options.models = args.models
    report = run_local(options)
    print_outcome(report, args.report_dir)
    return 0 if report.verdict == "pass" else 1


def _mlflow_side(options: Any, args: argparse.Namespace, settings: Any) -> None:
    """MLFLOW_CMD, MLFLOW_PREFIX and MLFLOW_PACKAGES: options win over HOKUSAI_* settings."""
    from hokusai_contracts.stack.mlflow_env import parse_packages
    from hokusai_contracts.stack.plan import check_mlflow_cmd

    options.mlflow_cmd = args.mlflow_cmd if args.mlflow_cmd else settings.mlflow_cmd
    check_mlflow_cmd(options.mlflow_cmd)
    if args.stack == "docker" and options.mlflow_cmd:
        raise UsageError("MLFLOW_CMD runs a process, which the docker stack cannot use (drop STACK=docker)")
    prefix = prefix_given(args, settings)
    if prefix is not None:
        options.mlflow_prefix = prefix
    options.mlflow_packages = parse_packages(settings.mlflow_packages)
    options.mlflow_overlay = args.mlflow_overlay or settings.mlflow_overlay
    options.seed = args.seed or settings.seed_file
    options.mlflow_gateway = bool(settings.mlflow_gateway)
    options.proxy_forwards_credentials = bool(settings.proxy_forward_credentials)
    _profile(options, args, settings)
    if args.stack == "docker" and options.mlflow_gateway:
        raise UsageError("the reference admin gateway (MLFLOW_GATEWAY, PROFILE=production) runs as a process, which "
                         "the docker stack cannot use (drop STACK=docker)")


def prefix_given(args: argparse.Namespace, settings: Any) -> str | None:
    """MLFLOW_PREFIX if set at all: "" (given as /) is a choice too, which a profile's /mlflow does not replace."""
    return str(args.mlflow_prefix) if args.mlflow_prefix is not None else settings.mlflow_prefix


def _profile(options: Any, args: argparse.Namespace, settings: Any) -> None:
    """PROFILE's values for what neither an option nor a HOKUSAI_* variable gave."""
    from hokusai_contracts.run.profiles import profile_named

    profile = profile_named(args.profile or settings.profile)
    if profile is None:
        return
    given = {name for name, value in (
        ("mlflow_version", options.mlflow_version), ("mlflow_prefix", prefix_given(args, settings)),
        ("mlflow_overlay", options.mlflow_overlay), ("mlflow_packages", settings.mlflow_packages),
        ("seed", options.seed), ("mlflow_gateway", settings.mlflow_gateway),
        ("proxy_forwards_credentials", settings.proxy_forward_credentials),
        # The stores' settings have defaults: given means set by an option or in the environment.
        *((name, getattr(args, name, None) or (True if name in settings.model_fields_set else None))
          for name in ("backend_store", "artifact_store", "mlflow_artifacts"))) if value is not None}
    profile.apply(options, given, print)
    options.profile, options.plain_key_refusal = profile.name, profile.plain_key_refusal
