"""``hokusai-contracts serve PART``: one part of the stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hokusai_contracts._errors import StackError, UsageError
from hokusai_contracts.commands.argtypes import url
from hokusai_contracts.domain.redact import mask
from hokusai_contracts.stack.definition import AUTH_PROFILES, StackDefinition
from hokusai_contracts.stack.processes import StackEndpoints, running_stack

__all__ = ["KEY_FILE", "add_serve_parser", "chosen_profiles", "serve", "stack_lines"]

#: The file in the stack's directory that holds the seeded key.
KEY_FILE = "api-key"


def add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run one part of the stack in the foreground")
    parts = serve.add_subparsers(dest="part", required=True, metavar="PART")
    s_mlflow = parts.add_parser("mlflow", help="the pinned MLflow server on throw-away storage")
    s_mlflow.add_argument("--port", type=int, default=5000, help="port to listen on")
    s_auth = parts.add_parser("auth", help="the fake auth service")
    s_auth.add_argument("--port", type=int, default=8001, help="port to listen on")
    s_auth.add_argument("--api-key", action="append", default=[], metavar="KEY[@SERVICE]",
                        help="a key to seed, valid for SERVICE; repeatable (default: none)")
    s_auth.add_argument("--admin-token", help="the admin token it accepts (default: a new random one)")
    s_auth.add_argument("--auth-profile", choices=AUTH_PROFILES, default=None,
                        help="how it answers bad keys (default: production, as the real one)")
    s_auth.add_argument("--profile", default=None, metavar="AUTH_PROFILE",
                        help="the deprecated spelling of --auth-profile (--profile names a deployment profile, as in "
                             "`local`; serve auth has none)")
    s_proxy = parts.add_parser("proxy", help="the reference MLflow proxy")
    s_proxy.add_argument("--port", type=int, default=8080, help="port to listen on")
    s_proxy.add_argument("--auth-url", required=True, type=url, help="the auth service's base URL (required)")
    s_proxy.add_argument("--mlflow-url", required=True, type=url, help="the MLflow server's base URL (required)")
    s_proxy.add_argument("--service-id", default="platform", help="the service_id it validates keys for")
    s_stack = parts.add_parser("stack", help="all three, printing their URLs and the seeded key (masked)")
    s_stack.add_argument("--proxy-cmd", help="your proxy's command, as for local (default: the reference proxy)")
    s_stack.add_argument("--auth-profile", choices=AUTH_PROFILES, default=None,
                         help="how the fake auth service answers bad keys (default: production, as the real one)")
    s_stack.add_argument("--profile", default=None,
                         help="a deployment profile, as in `local`: production starts the twin (MLflow 3.9.0 under "
                              "/mlflow behind an admin gateway, PostgreSQL and S3, production's keys); an auth "
                              "profile's name here is the deprecated spelling of --auth-profile (default: none)")
    s_stack.add_argument("--seed", type=Path, metavar="PATH", help="the fake auth service's key descriptions")


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise UsageError(f"port {port} on {host} is already in use; choose another with --port "
                             "or stop what is listening there") from None


def _foreground(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Run a child in the foreground; forward SIGTERM so the child stops with us."""
    child = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd)

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
        return 130


def serve(args: argparse.Namespace) -> int:
    if args.part == "stack":
        return _serve_stack(args)
    ensure_port_free(args.port)
    if args.part == "mlflow":
        mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
        if mlflow is None:
            raise StackError("MLflow is not installed in this environment; run `make venv` first")
        storage = Path(tempfile.mkdtemp(prefix="hokusai-mlflow-"))
        print(f"MLflow server on http://127.0.0.1:{args.port} (throw-away storage {storage})", flush=True)
        try:
            return _foreground([mlflow, "server", "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1",
                                "--backend-store-uri", f"sqlite:///{storage / 'mlflow.db'}",
                                "--artifacts-destination", str(storage / "artifacts")],
                               env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, cwd=storage)
        finally:
            shutil.rmtree(storage, ignore_errors=True)
    if args.part == "auth":
        argv = [sys.executable, "-m", "hokusai_mocks.fake_auth", "--host", "127.0.0.1", "--port", str(args.port),
                "--profile", chosen_profiles("auth", args.profile, args.auth_profile, _warn)[1]]
        # Secrets go to the child by environment, never argv: any user of the machine can read an
        # argv (ps, /proc/PID/cmdline), only the owner an environment. As explicit as the options
        # were: given keys replace a FAKE_AUTH_API_KEYS of the caller's, as --api-key did.
        env = {"FAKE_AUTH_ADMIN_TOKEN": args.admin_token} if args.admin_token else {}
        if args.api_key:
            env["FAKE_AUTH_API_KEYS"] = ",".join(args.api_key)
        return _foreground(argv, env)
    if args.part == "proxy":
        return _foreground([sys.executable, "-m", "hokusai_mocks.reference_proxy", "--host", "127.0.0.1",
                            "--port", str(args.port), "--auth-url", args.auth_url, "--mlflow-url", args.mlflow_url,
                            "--service-id", args.service_id])
    raise UsageError(f"unknown part {args.part!r}; choose mlflow, auth, proxy or stack")


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


def chosen_profiles(part: str, profile: str | None, auth_profile: str | None,
                    warn: Callable[[str], None]) -> tuple[str | None, str]:
    """``serve PART``'s (deployment profile, auth profile): ``--profile`` names a deployment profile (only
    ``stack`` has them); an auth profile's name there is the old spelling of ``--auth-profile``, still
    obeyed with a warning, so scripts written before keep working. Anything else: a UsageError."""
    from hokusai_contracts.run.profiles import PROFILES

    deployments = PROFILES if part == "stack" else {}
    value = (profile or "").strip()
    if not value or value in deployments:
        return value or None, auth_profile or "production"
    if value in AUTH_PROFILES:
        warn(f"serve {part}: --profile {value} is deprecated; write --auth-profile {value} (--profile names a "
             "deployment profile, as in `local`)")
        return None, auth_profile or value
    profiles = f"a deployment profile ({', '.join(deployments)}) or " if deployments else ""
    raise UsageError(f"serve {part} --profile {profile!r} is not a profile; give {profiles}--auth-profile "
                     f"{'|'.join(AUTH_PROFILES)} for how the fake auth service answers bad keys")


def _stack_definition(args: argparse.Namespace) -> StackDefinition:
    """The twin ``local`` would test: the same options, the same profile values, the same definition."""
    from hokusai_contracts.run.local import LocalOptions
    from hokusai_contracts.run.local_stack import stack_definition
    from hokusai_contracts.run.profiles import profile_named
    from hokusai_contracts.stack.seed import check_seed

    profile, auth_profile = chosen_profiles("stack", args.profile, args.auth_profile, _warn)
    options = LocalOptions(auth_profile=auth_profile, seed=args.seed)
    found = profile_named(profile)
    if found is not None:
        found.apply(options, {"seed"} if args.seed else set(), _warn)
    if options.seed is not None:
        check_seed(options.seed, "--seed")
    return stack_definition(options, options.mlflow_version)


def _serve_stack(args: argparse.Namespace) -> int:
    definition = _stack_definition(args)
    with running_stack(definition, args.proxy_cmd) as stack:
        assert stack.endpoints is not None and stack.root is not None
        # The key goes to a file only its owner reads, inside the stack's own directory (removed at stop):
        # the example below reads it from there, so the key is never on screen, in argv or in history.
        key_file = stack.root / KEY_FILE
        key_file.touch(mode=0o600)
        key_file.write_text(stack.endpoints.api_key, "utf-8")
        print("Local stack is up (Ctrl-C to stop):", flush=True)
        print(stack_lines(stack.endpoints, key_file), flush=True)
        try:
            while all(part.process.poll() is None for part in stack.parts.values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        dead = [str(p.part) for p in stack.parts.values() if p.process.poll() is not None]
        raise StackError(f"{', '.join(dead)} stopped unexpectedly; the stack was shut down")


def stack_lines(endpoints: StackEndpoints, key_file: Path) -> str:
    """Where the stack answers, the key masked and where to read it, and a command that works as printed."""
    uri, token = shlex.quote(endpoints.proxy_url), f'"$(cat {shlex.quote(str(key_file))})"'
    return "\n".join([
        f"  MLflow server : {endpoints.mlflow_url}",
        f"  auth service  : {endpoints.auth_url}",
        f"  MLflow proxy  : {endpoints.proxy_url}",
        f"  API key       : {mask(endpoints.api_key)} (service {endpoints.service_id}), "
        f"in {key_file} (mode 0600, removed at stop)",
        f"  try it        : MLFLOW_TRACKING_TOKEN={token} hokusai-contracts scenario --tracking-uri {uri}",
        f"  your client   : MLFLOW_TRACKING_URI={uri} MLFLOW_TRACKING_TOKEN={token} python your_script.py",
    ])
