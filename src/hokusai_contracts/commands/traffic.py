"""The ``judge`` command: recorded traffic judged hop by hop (``run.judge``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hokusai_contracts.commands.argtypes import REPORT_DIR_HELP
from hokusai_contracts.commands.outcome import print_outcome
from hokusai_contracts.contracts import files
from hokusai_contracts.domain.hops import Hop

__all__ = ["add_judge_parser", "judge"]

_HOPS = [hop.value for hop in Hop]



def _hop(text: str) -> Hop:
    try:
        return Hop(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown hop {text!r}; choose from {', '.join(_HOPS)}") from None


def _workers(text: str) -> int | str:
    if text.strip() == "auto":
        return "auto"
    try:
        return int(text)  # 0 and below: refused by run.judge, in one line
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of worker processes of 1 or more, or auto") from None


def add_judge_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "judge", help="judge recorded traffic (HAR, journal JSONL, NDJSON) hop by hop, as a run judges its journals; "
                      "on Dask with --workers or --scheduler",
        description="Reads HAR 1.2, the toolkit's journal JSONL, or NDJSON lines of {method, url, status, headers, "
                    "body} (the format is told by the content), places each exchange on its hop and judges it "
                    "against the receiving side's contract. Exit 0 clean, 1 findings, 2 bad input.")
    parser.add_argument("traffic", nargs="+", metavar="PATH",
                        help="the captures: a .har, .jsonl or .ndjson file, a folder of them, a glob ('logs/*.ndjson'),"
                             " or an s3:// URL (AWS_ENDPOINT_URL honoured)")
    parser.add_argument("--hop", type=_hop, default=None,
                       help="the hop every exchange crossed: " + ", ".join(_HOPS) + " (default: what the capture "
                            "records, else the file's name (proxy-auth.har), else inferred from host and path)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"), help=REPORT_DIR_HELP)
    parser.add_argument("--accept-secrets", action="store_true",
                       help="judge a capture holding an unredacted key or Bearer token; every output masks it")
    parser.add_argument("--workers", type=_workers, default=None, metavar="N|auto",
                        help="judge on a local Dask cluster of N worker processes (auto: one per core); default: "
                             "captures of up to 32 MB in all in this process, larger ones on auto")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="judge on an existing Dask cluster: its scheduler's tcp://HOST:PORT or tls://HOST:PORT")
    parser.add_argument("--contracts-dir", type=Path, metavar="DIR", help=files.CONTRACTS_DIR_HELP)


def judge(args: argparse.Namespace) -> int:
    from hokusai_contracts.run.judge import JudgeOptions, run_judge

    report = run_judge(JudgeOptions(traffic=list(args.traffic), hop=args.hop, report_dir=args.report_dir,
                                    accept_secrets=args.accept_secrets, workers=args.workers,
                                    scheduler=args.scheduler))
    print_outcome(report, args.report_dir)
    return 0 if report.verdict == "pass" else 1
