"""``hokusai-contracts live``: safe, read-mostly checks against the real endpoints."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hokusai_contracts.commands.argtypes import REPORT_DIR_HELP, live_suites, models
from hokusai_contracts.commands.outcome import print_outcome
from hokusai_contracts.contracts import files

__all__ = ["add_live_options", "add_live_parser", "apply_live_options", "live"]


def add_live_parser(commands: Any) -> None:
    live = commands.add_parser(
        "live", help="safe, read-mostly checks against the real endpoints (HOKUSAI_API_KEY, HOKUSAI_* settings)",
        description="Settings come from HOKUSAI_* environment variables or a git-ignored .env file: HOKUSAI_API_KEY "
                    "(required), HOKUSAI_PROXY_URL, HOKUSAI_AUTH_URL, HOKUSAI_MLFLOW_URL ('' skips direct MLflow), "
                    "HOKUSAI_CA_BUNDLE, HOKUSAI_RATE_LIMIT, HOKUSAI_REQUEST_BUDGET, HOKUSAI_LIVE_MAX_EXAMPLES, "
                    "HOKUSAI_TIMEOUT_S, HOKUSAI_PERF_SAMPLES, HOKUSAI_PERF_BASELINE, HOKUSAI_PERF_TOLERANCE.")
    add_live_options(live, suites_help="comma-separated read-only suites (auth-service,mlflow-direct,proxy) or "
                                       "none (default: all three)")
    live.add_argument("--keep", action="store_true", help="keep the contract-probe-* resources the run created")
    live.add_argument("--record", action="store_true",
                      help="write every exchange of the run as HAR, one per hop, into REPORT_DIR/traffic/ (keys "
                           "replaced by a placeholder); make contract-live RECORD=1")


def add_live_options(parser: Any, *, suites_help: str) -> None:
    """What a live run is asked for on the command line: ``live`` runs one, ``watch`` one every round.

    ``suites_help``: the default differs (``live``: every read-only suite; ``watch``: none, rounds stay light).
    """
    parser.add_argument("--report-dir", type=Path, default=Path("reports"), help=REPORT_DIR_HELP)
    parser.add_argument("--suites", type=live_suites, default=None, help=suites_help)
    parser.add_argument("--models", type=models, default=None,
                        help="model kinds for the registration scenario (default: logistic)")
    parser.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)


def apply_live_options(args: argparse.Namespace, options: Any) -> None:
    """``add_live_options``' suites and models onto a run's options (left as they are when not given)."""
    if args.suites is not None:
        options.suites = args.suites
    if args.models:
        options.models = args.models


def live(args: argparse.Namespace) -> int:
    from hokusai_contracts.run.live import LiveOptions, run_live
    from hokusai_contracts.settings import load_live_settings

    settings = load_live_settings()
    options = LiveOptions(report_dir=args.report_dir, keep=args.keep, record=args.record)
    apply_live_options(args, options)
    report = run_live(settings, options)
    print_outcome(report, args.report_dir)
    return 0 if report.verdict == "pass" else 1
