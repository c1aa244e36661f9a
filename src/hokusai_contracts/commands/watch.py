"""``hokusai-contracts watch``: scheduled live checks, with metrics, history, alerts and a status page."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hokusai_contracts._errors import Terminated, UsageError
from hokusai_contracts.commands.live import add_live_options, apply_live_options

__all__ = ["add_watch_parser", "watch"]

_T = TypeVar("_T")


def _checked(option: str, value: str | None, check: Callable[[str], _T]) -> _T | None:
    """``value`` through ``check``; a ``ValueError`` becomes one line naming the option (not argparse's usage)."""
    if value is None:
        return None
    try:
        return check(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _say(line: str) -> None:
    # Flushed: under systemd or docker stdout is a pipe, and a round's line should not wait for the next.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def add_watch_parser(commands: Any) -> None:
    watch = commands.add_parser(
        "watch", help="a live run every --every, with Prometheus metrics, history, alerts and a status page",
        description="Each round is a live run (HOKUSAI_API_KEY and the other HOKUSAI_* settings of `live`). "
                    "Options default to HOKUSAI_WATCH_EVERY, HOKUSAI_WATCH_REQUESTS_PER_HOUR, HOKUSAI_WATCH_KEEP, "
                    "HOKUSAI_WATCH_STATE, HOKUSAI_METRICS_PORT, HOKUSAI_METRICS_HOST, HOKUSAI_ALERT_WEBHOOK. "
                    "SIGTERM ends the round cleanly (exit 143); the next start carries on from --state.")
    watch.add_argument("--every", help="time between rounds: 20s, 15m, 1h (default: "
                                                         "HOKUSAI_WATCH_EVERY, else 15m)")
    watch.add_argument("--once", action="store_true", help="one round, then exit 0 (pass) or 1 (fail): for cron "
                                                           "and CI; serves no metrics unless a port is given")
    add_live_options(watch, suites_help="add read-only Schemathesis suites to every round (auth-service,"
                                        "mlflow-direct,proxy) (default: none)")
    watch.add_argument("--metrics-port", help="port of /metrics and the status page / (default: "
                                                          "HOKUSAI_METRICS_PORT, else 9477)")
    watch.add_argument("--state", type=Path, help="the SQLite history (default: HOKUSAI_WATCH_STATE, else "
                                                  "REPORT_DIR/watch.sqlite)")
    watch.add_argument("--keep", help="how long rounds and their reports are kept (default: "
                                                      "HOKUSAI_WATCH_KEEP, else 30d)")
    watch.add_argument("--alert-webhook", metavar="URL",
                       help="POST a JSON alert here when a cause appears and when it is gone (default: "
                            "HOKUSAI_ALERT_WEBHOOK)")


def watch(args: argparse.Namespace) -> int:
    from hokusai_contracts.domain.durations import parse_duration
    from hokusai_contracts.domain.redact import register_secrets
    from hokusai_contracts.run.watch import WatchOptions, run_watch
    from hokusai_contracts.settings import load_live_settings, load_watch_settings, webhook_url

    every = _checked("--every", args.every, parse_duration)
    keep = _checked("--keep", args.keep, parse_duration)
    port = _checked("--metrics-port", args.metrics_port, _port)
    webhook = _checked("--alert-webhook", args.alert_webhook, webhook_url)
    own = load_watch_settings()
    live = load_live_settings()
    webhook = webhook or own.alert_webhook
    register_secrets(webhook)  # a webhook's path is often its token: masked wherever it shows
    port_given = port is not None or "metrics_port" in own.model_fields_set
    options = WatchOptions(
        every_s=every or parse_duration(own.watch_every),
        state=args.state or own.watch_state or args.report_dir / "watch.sqlite", report_dir=args.report_dir,
        once=args.once, keep_s=keep or parse_duration(own.watch_keep),
        requests_per_hour=own.watch_requests_per_hour,
        metrics_address=(own.metrics_host, port or own.metrics_port)
        if port_given or not args.once else None, webhook=webhook)
    apply_live_options(args, options)
    try:
        return run_watch(live, options, _say)
    except Terminated:
        sys.stderr.write("hokusai-contracts watch: terminated (SIGTERM); the round was cleaned up and stored in "
                         f"{options.state}\n")
        return 143
    except KeyboardInterrupt:
        sys.stderr.write(f"hokusai-contracts watch: interrupted; the round was cleaned up and stored in "
                         f"{options.state}\n")
        return 130
