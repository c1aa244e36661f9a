"""The ``hokusai-contracts`` command line.

Exit codes follow Schemathesis: 0 passed, 1 failures found, 2 bad input or a
setup that could not run; 130 after Ctrl-C, 143 after SIGTERM. Errors are one
paragraph on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hokusai_contracts import __version__
from hokusai_contracts._errors import HokusaiContractsError, Terminated, UsageError
from hokusai_contracts.checks.suites.context import DEFAULT_MAX_EXAMPLES
from hokusai_contracts.commands.outcome import print_outcome
from hokusai_contracts.commands.traffic import add_judge_parser, judge
from hokusai_contracts.contracts import files
from hokusai_contracts.domain.names import LIVE_SCHEMATHESIS_SUITES, SCHEMATHESIS_SUITES, Suite
from hokusai_contracts.stack.processes import sigterm_as_interrupt

__all__ = ["main"]


def _models(text: str) -> list[object]:
    from hokusai_contracts.checks.scenario import ModelKind

    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        return [ModelKind(name) for name in names]
    except ValueError:
        choices = ", ".join(kind.value for kind in ModelKind)
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; choose from {choices}") from None


def _suite_list(text: str, allowed: Sequence[Suite], what: str) -> list[Suite]:
    names = [name.strip() for name in text.split(",") if name.strip() and name.strip() != "none"]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown[0]!r}; choose from {', '.join(allowed)} or none")
    return [Suite(name) for name in names]


def _suites(text: str) -> list[Suite]:
    return _suite_list(text, SCHEMATHESIS_SUITES, "suite")


def _url(text: str) -> str:
    from hokusai_contracts.settings import http_url

    try:
        return http_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


_REPORT_DIR = "where the report files go"


def _live_suites(text: str) -> list[Suite]:
    return _suite_list(text, LIVE_SCHEMATHESIS_SUITES, "live suite")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option's help ends with its default, unless it says it itself."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "(default" in text or default in (None, False, argparse.SUPPRESS, []) or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class _Parser(argparse.ArgumentParser):
    """A parser whose subcommands, made with ``add_parser``, format their help the same way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hokusai-contracts", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser("local", help="run the scenario and the suites against the local stack")
    local.add_argument("--report-dir", type=Path, default=Path("reports"), help=_REPORT_DIR)
    local.add_argument("--stack", choices=["process", "docker"], default="process",
                       help="run the stack's parts as processes, or as containers with docker compose")
    local.add_argument("--proxy-cmd", help="your proxy's command; placeholders {port} {auth_url} {mlflow_url} "
                                           "(default: HOKUSAI_PROXY_CMD)")
    local.add_argument("--proxy-image", help="with --stack docker: your proxy's image (default: the reference "
                                             "proxy's)")
    local.add_argument("--auth-profile", choices=["production", "contract"], default="production",
                       help="how the fake auth service answers bad keys (default: production, as the real one)")
    local.add_argument("--models", type=_models, default=None,
                       help="comma-separated model kinds for the scenario: logistic,random_forest,pipeline "
                            "(default: logistic)")
    local.add_argument("--suites", type=_suites, default=None,
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
    local.add_argument("--update-consumers", action="store_true",
                       help="add what the reference proxy sends and contracts/consumers/mlflow-proxy.yaml lacks to "
                            "that file (make contract-local UPDATE_CONSUMERS=1); without it a run only warns")
    local.add_argument("--replay", type=Path, metavar="PATH",
                       help="replay the client->proxy exchanges of a recording (HAR, JSONL, NDJSON) against the local "
                            "stack, in order, the seeded key in the placeholder's place (make contract-local "
                            "REPLAY=path.har)")

    live = commands.add_parser(
        "live", help="safe, read-mostly checks against the real endpoints (HOKUSAI_API_KEY, HOKUSAI_* settings)",
        description="Settings come from HOKUSAI_* environment variables or a git-ignored .env file: HOKUSAI_API_KEY "
                    "(required), HOKUSAI_PROXY_URL, HOKUSAI_AUTH_URL, HOKUSAI_MLFLOW_URL ('' skips direct MLflow), "
                    "HOKUSAI_CA_BUNDLE, HOKUSAI_RATE_LIMIT, HOKUSAI_REQUEST_BUDGET, HOKUSAI_LIVE_MAX_EXAMPLES, "
                    "HOKUSAI_TIMEOUT_S, HOKUSAI_PERF_SAMPLES, HOKUSAI_PERF_BASELINE, HOKUSAI_PERF_TOLERANCE.")
    live.add_argument("--report-dir", type=Path, default=Path("reports"), help=_REPORT_DIR)
    live.add_argument("--keep", action="store_true", help="keep the contract-probe-* resources the run created")
    live.add_argument("--suites", type=_live_suites, default=None,
                      help="comma-separated read-only suites (auth-service,mlflow-direct,proxy) or none "
                           "(default: all three)")
    live.add_argument("--models", type=_models, default=None,
                      help="model kinds for the registration scenario (default: logistic)")
    live.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)
    live.add_argument("--record", action="store_true",
                      help="write every exchange of the run as HAR, one per hop, into REPORT_DIR/traffic/ (keys "
                           "replaced by a placeholder); make contract-live RECORD=1")

    add_judge_parser(commands)

    serve = commands.add_parser("serve", help="run one part of the stack in the foreground")
    parts = serve.add_subparsers(dest="part", required=True, metavar="PART")
    s_mlflow = parts.add_parser("mlflow", help="the pinned MLflow server on throw-away storage")
    s_mlflow.add_argument("--port", type=int, default=5000, help="port to listen on")
    s_auth = parts.add_parser("auth", help="the fake auth service")
    s_auth.add_argument("--port", type=int, default=8001, help="port to listen on")
    s_auth.add_argument("--api-key", action="append", default=[], metavar="KEY[@SERVICE]",
                        help="a key to seed, valid for SERVICE; repeatable (default: none)")
    s_auth.add_argument("--admin-token", help="the admin token it accepts (default: a new random one)")
    s_auth.add_argument("--profile", choices=["contract", "production"], default="production",
                        help="how it answers bad keys")
    s_proxy = parts.add_parser("proxy", help="the reference MLflow proxy")
    s_proxy.add_argument("--port", type=int, default=8080, help="port to listen on")
    s_proxy.add_argument("--auth-url", required=True, type=_url, help="the auth service's base URL (required)")
    s_proxy.add_argument("--mlflow-url", required=True, type=_url, help="the MLflow server's base URL (required)")
    s_proxy.add_argument("--service-id", default="platform", help="the service_id it validates keys for")
    s_stack = parts.add_parser("stack", help="all three, printing their URLs and the seeded key (masked)")
    s_stack.add_argument("--proxy-cmd", help="your proxy's command, as for local (default: the reference proxy)")
    s_stack.add_argument("--profile", choices=["contract", "production"], default="production",
                         help="how the fake auth service answers bad keys")

    scenario = commands.add_parser("scenario", help="register one model through a tracking URI")
    scenario.add_argument("--tracking-uri", required=True, type=_url, help="the MLflow tracking URI (required)")
    scenario.add_argument("--models", type=_models, default=None,
                          help="comma-separated model kinds (default: logistic)")
    scenario.add_argument("--ca-bundle", help="CA bundle to trust for https (default: the system's)")
    scenario.add_argument("--register-as", help="register under this model name (default: a new probe name)")

    bench = commands.add_parser("bench", help="where the time of contract-local goes")
    bench.add_argument("--report-dir", type=Path, default=Path("reports"), help=_REPORT_DIR)

    generate = commands.add_parser("generate-contracts", help="regenerate contracts/ from MLflow's protos")
    generate.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    generate.add_argument("--contracts-dir", type=Path, metavar="DIR", help="read the overlay from and write into DIR")
    generate.add_argument("--mlflow-version", help="a committed version's pair (contracts/mlflow/<version>/), "
                                                   "from that version's protos; default: the pinned one")

    mlflow_diff = commands.add_parser("mlflow-diff", help="REST differences between two MLflow versions' contracts")
    mlflow_diff.add_argument("old", metavar="OLD", help="the version clients are written against, e.g. 2.9.2")
    mlflow_diff.add_argument("new", metavar="NEW", help="the server's version, e.g. 3.9.0")
    mlflow_diff.add_argument("--report-dir", type=Path, default=Path("reports"), help=_REPORT_DIR)
    mlflow_diff.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)

    spec = commands.add_parser("spec-check", help="check a candidate auth-service spec against the current one")
    spec.add_argument("path", type=Path, metavar="PATH", help="the candidate OpenAPI 3.0/3.1 document (YAML or JSON)")
    spec.add_argument("--report-dir", type=Path, default=Path("reports"), help=_REPORT_DIR)
    spec.add_argument("--no-dynamic", action="store_true", help="only the static diff and consumer impact")
    spec.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)

    compose = commands.add_parser("compose", help="the compose stack for manual use (needs a Docker engine)")
    compose.add_argument("action", choices=["up", "down", "render"], help="start, stop, or write the compose files")
    compose.add_argument("--check", action="store_true", help="render: list the files that differ, change nothing")
    compose.add_argument("--proxy-image", help="your proxy's image (default: the reference proxy's)")
    compose.add_argument("--profile", action="append", default=[], choices=["postgres", "s3"],
                         help="an optional part to add; repeatable (default: none)")

    commands.add_parser("report-schema", help="print the JSON Schema of contract-report.json")
    return parser


def _was_sigterm(exc: KeyboardInterrupt) -> bool:
    return isinstance(exc, Terminated)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        files.use_contracts_dir(getattr(args, "contracts_dir", None))
        # SIGTERM raises Terminated where the run is, so that it unwinds (stack, cleanup) as on Ctrl-C.
        with sigterm_as_interrupt():
            return _dispatch(args)
    except HokusaiContractsError as exc:
        if args.debug:
            raise
        from hokusai_contracts.domain.redact import redact

        # A message may quote a log tail or an answer: every secret the run registered is masked.
        print(f"hokusai-contracts: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if _was_sigterm(exc):
            print("hokusai-contracts: terminated (SIGTERM); the stack was stopped.", file=sys.stderr)
            return 143
        print("hokusai-contracts: interrupted; the stack was stopped.", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "local":
        return _local(args)
    if args.command == "live":
        return _live(args)
    if args.command == "judge":
        return judge(args)
    if args.command == "serve":
        from hokusai_contracts.commands.serve import serve

        return serve(args)
    if args.command == "scenario":
        return _scenario(args)
    if args.command == "bench":
        from hokusai_contracts.commands.bench import run_bench

        return run_bench(args.report_dir)
    if args.command == "generate-contracts":
        from hokusai_contracts.commands.mlflow_contracts import regenerate_contracts

        lines = regenerate_contracts(args.mlflow_version, check=args.check, out=print)
        for line in lines:
            print(line)
        return 1 if args.check and lines else 0
    if args.command == "mlflow-diff":
        from hokusai_contracts.commands.mlflow_contracts import ensure_mlflow_contracts
        from hokusai_contracts.run.mlflow_diff import run_mlflow_diff

        return run_mlflow_diff(args.old, args.new, args.report_dir,
                               contracts_for=lambda version, setting: ensure_mlflow_contracts(version, setting, print))
    if args.command == "compose":
        return _compose(args)
    if args.command == "spec-check":
        from hokusai_contracts.run.spec import run_spec_check, spec_exit_code

        return spec_exit_code(run_spec_check(args.path, report_dir=args.report_dir, dynamic=not args.no_dynamic))
    if args.command == "report-schema":
        from hokusai_contracts.report.model import report_json_schema

        print(report_json_schema())
        return 0
    raise UsageError(f"unknown command {args.command!r}")


def _local(args: argparse.Namespace) -> int:
    from hokusai_contracts.run.local import LocalOptions, run_local
    from hokusai_contracts.settings import load_local_settings

    settings = load_local_settings()
    # The option wins over HOKUSAI_PROXY_CMD (what `make contract-local PROXY_CMD=...` sets).
    proxy_cmd = args.proxy_cmd if args.proxy_cmd is not None else settings.proxy_cmd

    if args.stack == "docker" and proxy_cmd:
        raise UsageError("PROXY_CMD runs a process, which the docker stack cannot use: give your proxy's image "
                         "with PROXY_IMAGE=... (or drop STACK=docker)")
    options = LocalOptions(report_dir=args.report_dir, proxy_cmd=proxy_cmd, auth_profile=args.auth_profile,
                           full=args.full, max_examples=args.max_examples, faults=not args.no_faults,
                           mlflow_fault=settings.mlflow_fault, fault_delay_s=settings.fault_delay_s,
                           proxy_timeouts=settings.proxy_timeouts,
                           artifact_mb=settings.artifact_mb, stack=args.stack, proxy_image=args.proxy_image,
                           update_consumers=args.update_consumers, replay=args.replay,
                           mlflow_version=args.mlflow_version or settings.mlflow_version)
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


def _live(args: argparse.Namespace) -> int:
    from hokusai_contracts.run.live import LiveOptions, run_live
    from hokusai_contracts.settings import load_live_settings

    settings = load_live_settings()
    options = LiveOptions(report_dir=args.report_dir, keep=args.keep, record=args.record)
    if args.suites is not None:
        options.suites = args.suites
    if args.models:
        options.models = args.models
    report = run_live(settings, options)
    print_outcome(report, args.report_dir)
    return 0 if report.verdict == "pass" else 1


def _compose(args: argparse.Namespace) -> int:
    from hokusai_contracts.stack.docker_stack import compose_down, compose_up
    from hokusai_contracts.stack.processes import describe

    if args.action == "render":
        from hokusai_contracts.stack.compose_render import check_rendered, write_rendered

        drift = check_rendered() if args.check else [f"wrote {path}" for path in write_rendered()]
        for line in drift:
            print(line)
        return 1 if args.check and drift else 0
    if args.action == "down":
        for line in compose_down():
            print(line)
        return 0
    stack = compose_up(proxy_image=args.proxy_image, profiles=args.profile)
    assert stack.endpoints is not None and stack.root is not None
    print("Compose stack is up (stop it with `make compose-down`):")
    print(describe(stack.endpoints))
    print(f"  seeded keys   : {stack.root / 'run' / 'state' / 'auth-state.json'} (mode 0600)")
    print(f"  hop journals  : {stack.root / 'run' / 'journals'}")
    return 0


def _scenario(args: argparse.Namespace) -> int:
    import os

    from hokusai_contracts.checks.scenario import ModelKind, run_registration

    key = os.environ.get("MLFLOW_TRACKING_TOKEN") or os.environ.get("HOKUSAI_API_KEY")
    if not key:
        raise UsageError("set MLFLOW_TRACKING_TOKEN (or HOKUSAI_API_KEY) to the API key to register with")
    ok = True
    for kind in args.models or [ModelKind.LOGISTIC]:
        result = run_registration(args.tracking_uri, key, model_kind=kind, ca_bundle=args.ca_bundle,
                                  health_url=args.tracking_uri.rstrip("/") + "/health/mlflow",
                                  register_as=args.register_as)
        ok = ok and result.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
