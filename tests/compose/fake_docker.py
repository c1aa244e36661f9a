"""A stand-in for the ``docker`` CLI with its compose plugin, for the docker runner's tests without an engine.

Installed as ``docker`` on PATH by the tests. It records every call (argv, and the ``HOKUSAI_*``
variables of its environment) to ``$FAKE_DOCKER_STATE/calls.jsonl`` and plays an engine:
``compose up`` writes the fake auth service's state file where the run folder is mounted and
starts one HTTP server answering 200 on every published port; ``compose down`` stops it.
``$FAKE_DOCKER_MODE`` breaks it on purpose: ``no-compose``, ``no-engine``, ``auth-fails``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PRIMARY_KEY = "hk_live_" + "p" * 32
LEAKY_LOG = "auth: cannot start with key hk_live_" + "c" * 32

_SERVER = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
servers = [ThreadingHTTPServer(("127.0.0.1", int(p)), H) for p in sys.argv[1:]]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""


def main(argv: list[str]) -> int:
    state = Path(os.environ["FAKE_DOCKER_STATE"])
    mode = os.environ.get("FAKE_DOCKER_MODE", "")
    with (state / "calls.jsonl").open("a", encoding="utf-8") as calls:
        env = {k: v for k, v in os.environ.items() if k.startswith("HOKUSAI_")}
        calls.write(json.dumps({"argv": argv, "env": env}) + "\n")
    if argv[:1] == ["info"]:
        return _info(argv, mode)
    if argv[:1] != ["compose"]:
        sys.stderr.write(f"fake docker: unknown command {argv[:1]}\n")
        return 1
    return _compose(argv, state, mode)


def _info(argv: list[str], mode: str) -> int:
    if mode == "no-engine":
        sys.stderr.write("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                         "Is the docker daemon running?\n")
        return 1
    print('["name=seccomp,profile=builtin"]' if "SecurityOptions" in argv[-1] else "27.0.3")
    return 0


def _compose(argv: list[str], state: Path, mode: str) -> int:
    if mode == "no-compose":
        sys.stderr.write("docker: unknown command: docker compose\n")
        return 1
    if argv[1:2] == ["version"]:
        print("Docker Compose version v2.29.1")
        return 0
    project = argv[argv.index("-p") + 1]
    action = next(a for a in argv[argv.index("--env-file") + 2:] if not a.startswith("-") and a not in ("s3",
                                                                                                     "postgres"))
    pid_file = state / f"{project}.pid"
    if action == "up":
        return _up(project, pid_file, mode)
    if action == "logs":
        service = argv[-1]
        print(LEAKY_LOG if mode == "auth-fails" and service == "auth" else
              f"{service} says hello to {os.environ.get('HOKUSAI_ADMIN_TOKEN', '')}")
        return 0
    if action == "down":
        if pid_file.exists():
            os.killpg(int(pid_file.read_text("utf-8")), signal.SIGKILL)
            pid_file.unlink()
            for service in ("proxy", "auth", "mlflow"):
                sys.stderr.write(f" Container {project}-{service}-1  Removed\n")
        return 0
    if action == "ps":
        if pid_file.exists():
            print("0123456789ab")
        return 0
    if action == "ls":
        print(json.dumps([{"Name": p.stem} for p in state.glob("*.pid")]))
        return 0
    return 0  # kill, pause, unpause


def _up(project: str, pid_file: Path, mode: str) -> int:
    """The auth service's seeded state as the real container writes it, and one server on every part's port."""
    if mode == "auth-fails":
        sys.stderr.write(f" Container {project}-auth-1  Error\ncontainer {project}-auth-1 exited (2)\n")
        return 1
    run = Path(os.environ["HOKUSAI_RUN_DIR"])
    keys = [{"name": "primary", "key": PRIMARY_KEY, "key_id": "1", "service_id": "platform", "state": "active"},
            {"name": "cli-1", "key": os.environ["HOKUSAI_SEED_KEY"], "key_id": "2", "service_id": "platform",
             "state": "active"}]
    (run / "state" / "auth-state.json").write_text(
        json.dumps({"keys": keys, "admin_token": os.environ["HOKUSAI_ADMIN_TOKEN"]}), "utf-8")
    ports = [v for k, v in os.environ.items() if k.startswith("HOKUSAI_") and k.endswith("_PORT")]
    server = subprocess.Popen([sys.executable, "-c", _SERVER, *ports], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file.write_text(str(server.pid), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
