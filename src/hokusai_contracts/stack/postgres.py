"""MLflow's backend store as production's: a PostgreSQL server on loopback, in the stack's directory.

Production runs MLflow on RDS PostgreSQL 15 with the en_US.UTF-8 locale. The stack starts the
machine's own server (Debian's postgresql-15: ``pg_config --bindir``, ``initdb`` on ``PATH`` or
``/usr/lib/postgresql/*/bin``, newest first), else the one pip installs with the ``postgres`` extra
(pgserver's wheel: PostgreSQL 16.2, so production's 15 from the machine wins), as one of its parts:
``initdb`` into the stack's temporary directory, then ``postgres`` on a free loopback port, no Unix
socket. PostgreSQL refuses
to run as root, so a run as root starts it as an unprivileged account (``postgres`` where the
package made one, else ``nobody``) that owns only its data folder; the stack's directory is then
traversable (0711), never listable, by that account.

The password is fresh per run and reaches the server's shell only through its environment, and
``initdb`` reads it from a 0600 file removed at once: never argv (``ps`` shows argv to everyone).
When en_US.UTF-8 is not installed (``locale -a``), the cluster collates with ICU's ``en-US``
instead (what RDS's glibc collation mostly agrees with) and the report's targets say so.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hokusai_contracts._errors import UsageError

__all__ = ["DATABASE", "HOW_TO_GET_ONE", "USER", "PostgresInstall", "accepts_logins", "find_postgres",
           "postgres_script", "postgres_uri"]

USER = "mlflow"
DATABASE = "postgres"  # initdb's own: a database of MLflow's would cost a single-user start (seconds under load)
#: The locale of production's RDS instance.
RDS_LOCALE = "en_US.UTF-8"
HOW_TO_GET_ONE = ("BACKEND_STORE=postgresql needs a PostgreSQL server (initdb and postgres) and found none: "
                  "install production's version (Debian/Ubuntu: `apt-get install postgresql-15`; macOS: "
                  "`brew install postgresql@15`) or put its bin folder first on PATH, or pip-install one into "
                  "this environment: `pip install 'hokusai-contracts[postgres]'` (a checkout: "
                  "`.venv/bin/pip install -c constraints.txt -e '.[postgres]'`; PostgreSQL 16.2)")
_SEARCHED = "/usr/lib/postgresql/*/bin"
#: The distribution the ``postgres`` extra installs: its wheel carries a whole server under pginstall/.
_WHEEL = "pgserver"
_FALLBACK_ACCOUNTS = ("postgres", "nobody")


@dataclass(frozen=True)
class PostgresInstall:
    """A PostgreSQL server found on this machine, and how the stack runs it."""

    bindir: Path
    version: str  # "15.10"
    #: The account it runs as when the runner is root (None: the runner's own).
    account: str | None
    #: initdb's locale options, and how the report names them.
    locale_options: tuple[str, ...]
    locale: str

    @property
    def described(self) -> str:
        return f"postgresql {self.version} ({self.locale})"


def find_postgres() -> PostgresInstall:
    """The machine's PostgreSQL server, else a UsageError saying how to get one (before anything starts)."""
    for bindir in _candidates():
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            version = _version(bindir)
            if version is not None:
                return PostgresInstall(bindir, version, _account(), *_locale(bindir))
    raise UsageError(HOW_TO_GET_ONE)


def _candidates() -> list[Path]:
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
            if done.returncode == 0 and done.stdout.strip():
                found.append(Path(done.stdout.strip()))
        except (OSError, subprocess.TimeoutExpired):
            pass
    on_path = shutil.which("initdb")
    if on_path is not None:
        found.append(Path(on_path).parent)

    def major(path: str) -> int:
        number = re.search(r"/(\d+)/bin$", path)
        return int(number.group(1)) if number else 0

    found += [Path(p) for p in sorted(glob.glob(_SEARCHED), key=major, reverse=True)]
    wheel = _pip_installed()
    if wheel is not None:
        found.append(wheel)
    return found


def _pip_installed() -> Path | None:
    """The bin folder of the server pip installed with the ``postgres`` extra (pgserver), if it is here.

    Found, not imported: importing pgserver would start nothing, but it is not ours to run.
    """
    spec = importlib.util.find_spec(_WHEEL)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _version(bindir: Path) -> str | None:
    try:
        done = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    number = re.search(r"(\d+(?:\.\d+)?)", done.stdout)
    return number.group(1) if done.returncode == 0 and number else None


def _account() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in _FALLBACK_ACCOUNTS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise UsageError("BACKEND_STORE=postgresql as root needs an unprivileged account to run PostgreSQL as "
                     "(postgres or nobody); create one (`useradd --system postgres`) or run as another user")


def _locale(bindir: Path) -> tuple[tuple[str, ...], str]:
    try:
        installed = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        installed = ""
    names = {name.strip().lower().replace("-", "") for name in installed.splitlines()}
    if "en_us.utf8" in names:
        return ("--locale", RDS_LOCALE, "--encoding", "UTF8"), RDS_LOCALE
    # PostgreSQL 15 collates with ICU when asked: the same order as RDS's locale for what the API can store,
    # on machines without the glibc locale (docs/stores.md: how to install it).
    return (("--locale", "C.UTF-8", "--encoding", "UTF8", "--locale-provider", "icu", "--icu-locale", "en-US"),
            f"ICU en-US; {RDS_LOCALE} is not installed here")


def postgres_script(install: PostgresInstall, data_dir: str, host: str, port: int) -> str:
    """The part's shell: initdb (the password from $HOKUSAI_POSTGRES_PASSWORD, via a file removed at once),
    then the server, stopped the fast way whatever signal the stack sends.

    A stack ends a part with SIGTERM to its process group, which is a *smart* shutdown to PostgreSQL:
    it waits for every client to leave, and the server's own children (in sessions of their own, so
    the group's signal never reaches them) linger while it does. The shell turns the signal into
    SIGINT, a *fast* shutdown: sessions ended, a last checkpoint, the shared memory released.
    """
    bindir = install.bindir
    password_file = shlex.quote(data_dir + ".password")
    initdb = shlex.join([str(bindir / "initdb"), "-D", data_dir, "-U", USER, "--pwfile", data_dir + ".password",
                         "--auth-host", "scram-sha-256", "--auth-local", "reject", "--no-sync", "--no-instructions",
                         *install.locale_options])
    # Speed over durability: the data is thrown away with the stack. No Unix socket: loopback TCP only.
    server = shlex.join([str(bindir / "postgres"), "-D", data_dir, "-h", host, "-p", str(port), "-k", "",
                         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                         "-c", "max_connections=100"])
    return (f"umask 077 && printf '%s' \"$HOKUSAI_POSTGRES_PASSWORD\" > {password_file} && "
            f"{{ {initdb} > /dev/null; status=$?; rm -f {password_file}; test $status -eq 0; }} || exit 1\n"
            f"unset HOKUSAI_POSTGRES_PASSWORD\n"
            f"{server} & server=$!\n"
            "trap 'kill -INT $server 2>/dev/null' TERM INT HUP\n"
            "while kill -0 $server 2>/dev/null; do wait $server; done\n")


def postgres_uri(host: str, port: int, password: str) -> str:
    """The backend store URI MLflow gets (in its environment only: it holds the password)."""
    # psycopg2 named: SQLAlchemy 2.1 takes postgresql:// to mean psycopg 3, which MLflow's image does not install.
    return f"postgresql+psycopg2://{USER}:{password}@{host}:{port}/{DATABASE}"


def accepts_logins(host: str, port: int, timeout: float = 2.0) -> bool:
    """True once the server asks a client to authenticate: past its start-up, ready for MLflow.

    A startup message in the wire protocol (3.0) is answered with an authentication request ('R')
    by a server that takes connections, with an error ('E', "the database system is starting up")
    before; a listening socket alone says neither. Nothing is logged in: no password is needed.
    """
    body = b"user\0" + USER.encode() + b"\0database\0" + DATABASE.encode() + b"\0\0"
    message = struct.pack("!ii", len(body) + 8, 196608) + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(message)
            return conn.recv(1) == b"R"
    except OSError:
        return False
