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
from hokusai_contracts.commands.argtypes import REPORT_DIR_HELP, models, url
from hokusai_contracts.commands.live import add_live_parser, live
from hokusai_contracts.commands.local import add_local_parser, local
from hokusai_contracts.commands.serve import add_serve_parser
from hokusai_contracts.commands.traffic import add_judge_parser, judge
from hokusai_contracts.commands.watch import add_watch_parser, watch
from hokusai_contracts.contracts import files
from hokusai_contracts.stack.processes import sigterm_as_interrupt

__all__ = ["main"]


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

    add_local_parser(commands)
    add_live_parser(commands)
    add_judge_parser(commands)
    add_watch_parser(commands)

    add_serve_parser(commands)

    scenario = commands.add_parser("scenario", help="register one model through a tracking URI")
    scenario.add_argument("--tracking-uri", required=True, type=url, help="the MLflow tracking URI (required)")
    scenario.add_argument("--models", type=models, default=None,
                          help="comma-separated model kinds (default: logistic)")
    scenario.add_argument("--ca-bundle", help="CA bundle to trust for https (default: the system's)")
    scenario.add_argument("--register-as", help="register under this model name (default: a new probe name)")

    bench = commands.add_parser("bench", help="where the time of contract-local goes")
    bench.add_argument("--report-dir", type=Path, default=Path("reports"), help=REPORT_DIR_HELP)

    generate = commands.add_parser("generate-contracts", help="regenerate contracts/ from MLflow's protos")
    generate.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    generate.add_argument("--contracts-dir", type=Path, metavar="DIR", help="read the overlay from and write into DIR")
    generate.add_argument("--mlflow-version", help="a committed version's pair (contracts/mlflow/<version>/), "
                                                   "from that version's protos; default: the pinned one")

    mlflow_diff = commands.add_parser("mlflow-diff", help="REST differences between two MLflow versions' contracts")
    mlflow_diff.add_argument("old", metavar="OLD", help="the version clients are written against, e.g. 2.9.2")
    mlflow_diff.add_argument("new", metavar="NEW", help="the server's version, e.g. 3.9.0")
    mlflow_diff.add_argument("--report-dir", type=Path, default=Path("reports"), help=REPORT_DIR_HELP)
    mlflow_diff.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)

    spec = commands.add_parser("spec-check", help="check a candidate auth-service spec against the current one")
    spec.add_argument("path", type=Path, metavar="PATH", help="the candidate OpenAPI 3.0/3.1 document (YAML or JSON)")
    spec.add_argument("--report-dir", type=Path, default=Path("reports"), help=REPORT_DIR_HELP)
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
        return local(args)
    if args.command == "live":
        return live(args)
    if args.command == "judge":
        return judge(args)
    if args.command == "watch":
        return watch(args)
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
