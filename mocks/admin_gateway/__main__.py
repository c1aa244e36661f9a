"""``python -m hokusai_mocks.admin_gateway --port P --auth-url U [--static-prefix /mlflow] -- mlflow server ...``.

Production's shape: the gateway wraps MLflow and passes every path as it comes; ``--static-prefix`` is
the one MLflow serves under (it is added to the mlflow server command), whose health stays open.

Starts the ``mlflow server`` command after ``--`` on a free loopback port of its own (in this
process's group, so a stop of the gateway's group stops it too), waits until it answers an API
call, then listens: once the gateway answers at all, MLflow behind it is ready.
"""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import time

import httpx
import uvicorn

from .app import AdminGateway

_READY_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_ready(mlflow: subprocess.Popen[bytes], urls: list[str], timeout_s: float = 120.0) -> None:
    """Until an API call answers 200: under the static prefix from MLflow 3.12 on, at the root before."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if mlflow.poll() is not None:
            sys.exit(f"admin gateway: mlflow server exited with code {mlflow.returncode}")
        for url in urls:
            try:
                if httpx.get(url, timeout=5.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    sys.exit(f"admin gateway: mlflow server did not answer {' or '.join(urls)} within {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hokusai_mocks.admin_gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth-url", required=True)
    parser.add_argument("--service-id", default="platform")
    parser.add_argument("--static-prefix", default="", help="the prefix MLflow serves under (its --static-prefix)")
    parser.add_argument("mlflow", nargs=argparse.REMAINDER, help="-- and the mlflow server command (no --port)")
    args = parser.parse_args(argv)
    command = [part for part in args.mlflow if part != "--"]
    if not command:
        parser.error("give the mlflow server command after --")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    port = _free_port(args.host)
    prefix = args.static_prefix.rstrip("/")
    mlflow = subprocess.Popen([*command, "--port", str(port), *(["--static-prefix", prefix] if prefix else [])])
    try:
        mlflow_url = f"http://{args.host}:{port}"
        _wait_ready(mlflow, [mlflow_url + prefix + _READY_PATH, mlflow_url + _READY_PATH] if prefix
                    else [mlflow_url + _READY_PATH])
        gateway = AdminGateway(mlflow_url, args.auth_url, args.service_id, prefix)
        uvicorn.run(gateway, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on")
    finally:
        mlflow.terminate()
        try:
            mlflow.wait(5)
        except subprocess.TimeoutExpired:
            mlflow.kill()


if __name__ == "__main__":
    main()
