"""Run the fake auth service in the foreground until Ctrl-C or SIGTERM.

    python -m hokusai_mocks.fake_auth --host 127.0.0.1 --port 8081 [--seed FILE]
        [--admin-token T] [--profile contract|production] [--api-key KEY[@SERVICE]]...
        [--fault none|slow|error|down] [--fault-delay S] [--state-file PATH]

Options left out fall back to the ``FAKE_AUTH_*`` environment variables, then to the defaults
(settings.py). ``--port 0`` picks a free port; the state file's ``base_url`` tells which. The state
file (seed.py) is removed at start and written, mode 0600, once the server listens: a runner that
waits for it can connect at once.

Exit status: 2 for unusable options, seed file or state file; 3 when the port cannot be bound
(uvicorn's startup failure); after SIGTERM the process ends by that signal once shut down
gracefully (uvicorn re-raises it, so a Python parent sees -15); Ctrl-C exits 130, no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from .app import create_app
from .seed import SeedError, completed_seed, write_state_file
from .service import ServiceState
from .settings import FakeAuthSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hokusai_mocks.fake_auth",
        description="The fake Hokusai auth service (contracts/auth-service.yaml, in memory).",
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on; 0 picks a free one")
    parser.add_argument("--seed", type=Path, dest="seed_file", help="seed file (YAML or JSON)")
    parser.add_argument("--admin-token", help="bearer token for key administration")
    parser.add_argument("--profile", choices=["contract", "production"])
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY[@SERVICE]",
        help="an extra active key (service defaults to platform); repeatable",
    )
    parser.add_argument("--fault", choices=["none", "slow", "error", "down"])
    parser.add_argument("--fault-delay", type=float, dest="fault_delay_s", metavar="SECONDS")
    parser.add_argument("--state-file", type=Path, help="where to write the keys and admin token")
    parser.add_argument(
        "--probe-keys-from-primary",
        action="store_true",
        default=None,
        help="add the packaged keys the --seed file lacks, with the scopes of its `primary` key",
    )
    parser.add_argument(
        "--check-seed",
        action="store_true",
        help="only check the --seed file (with the packaged keys it lacks added) and exit: 0 or 2",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level of uvicorn and the fake (default warning)",
    )
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"fake auth: {message}\n")
    return 2


class _Server(uvicorn.Server):
    """Writes the state file once the socket listens, so the file means "ready to connect"."""

    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self.fake = state
        self.failed = False

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        base_url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        settings = self.fake.settings
        if settings.state_file is not None:
            try:
                write_state_file(
                    settings.state_file, self.fake.store, settings.admin_token, base_url
                )
            except OSError as exc:
                sys.stderr.write(
                    f"fake auth: cannot write the state file {settings.state_file}: "
                    f"{exc.strerror}; choose a writable --state-file\n"
                )
                # Stop: a runner waiting for the file would otherwise wait forever.
                self.failed = self.should_exit = True
                return
        sys.stderr.write(
            f"fake auth ({settings.profile} profile, fault {self.fake.faults.fault}) "
            f"listening on {base_url}\n"
        )


def _check_seed(path: Path | None) -> int:
    """Whether a run could start with this seed: one line and exit 2 if not (a runner checks before it starts)."""
    if path is None:
        return _fail("--check-seed needs --seed FILE")
    try:
        completed_seed(path)
    except SeedError as exc:
        return _fail(str(exc))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    log_level = args.pop("log_level")
    if args.pop("check_seed"):
        return _check_seed(args.get("seed_file"))
    overrides = {name: value for name, value in args.items() if value is not None}
    try:
        settings = FakeAuthSettings(**overrides)
    except ValidationError as exc:
        # loc and msg only: pydantic's full text repeats the input, which may be a key.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return _fail(f"invalid option: {problems}")
    if settings.state_file is not None:
        # A stale file from an earlier run must not pass for this run's keys.
        settings.state_file.unlink(missing_ok=True)
    try:
        app = create_app(settings)
    except SeedError as exc:
        return _fail(str(exc))
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        # A "slow" fault holds requests for many seconds; do not let them delay a shutdown.
        timeout_graceful_shutdown=2,
    )
    server = _Server(config, app.state.fake)
    try:
        server.run()
    except KeyboardInterrupt:
        return 130
    return 2 if server.failed else 0


if __name__ == "__main__":
    sys.exit(main())
