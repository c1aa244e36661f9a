"""Finding the machine's PostgreSQL, the part's script, and when the server counts as up."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.stack import postgres
from hokusai_contracts.stack.postgres import HOW_TO_GET_ONE, PostgresInstall, accepts_logins, postgres_script


def test_no_server_anywhere_is_one_line_saying_how_to_get_one(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config, no initdb
    monkeypatch.setattr(postgres, "_SEARCHED", str(tmp_path / "nowhere" / "*" / "bin"))
    monkeypatch.setattr(postgres, "_WHEEL", "no_such_server_wheel")  # nor the postgres extra
    with pytest.raises(UsageError) as raised:
        postgres.find_postgres()
    assert str(raised.value) == HOW_TO_GET_ONE
    assert "\n" not in HOW_TO_GET_ONE and "BACKEND_STORE=postgresql" in HOW_TO_GET_ONE
    # Both ways to get one: the machine's package (production's version) and the pip extra.
    assert "apt-get install postgresql-15" in HOW_TO_GET_ONE
    assert "pip install 'hokusai-contracts[postgres]'" in HOW_TO_GET_ONE


def _server(bindir: Path, version: str) -> Path:
    """A bin folder with an initdb and a postgres that answers ``--version`` as the real one does."""
    bindir.mkdir(parents=True)
    (bindir / "initdb").write_text("#!/bin/sh\n")
    (bindir / "postgres").write_text(f"#!/bin/sh\necho 'postgres (PostgreSQL) {version}'\n")
    for program in ("initdb", "postgres"):
        (bindir / program).chmod(0o755)
    return bindir


def test_the_machines_servers_come_first_newest_first_and_the_pip_installed_one_last(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configured = _server(tmp_path / "configured" / "bin", "15.7")
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "pg_config").write_text(f"#!/bin/sh\necho {configured}\n")
    (tmp_path / "path" / "pg_config").chmod(0o755)
    on_path = _server(tmp_path / "elsewhere" / "bin", "15.6")
    monkeypatch.setenv("PATH", f"{tmp_path / 'path'}:{on_path}")
    packaged = [_server(tmp_path / "lib" / major / "bin", f"{major}.1") for major in ("9", "15", "16")]
    monkeypatch.setattr(postgres, "_SEARCHED", str(tmp_path / "lib" / "*" / "bin"))
    wheel = _server(tmp_path / "site" / "fake_pgserver" / "pginstall" / "bin", "16.2")
    (tmp_path / "site" / "fake_pgserver" / "__init__.py").touch()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(postgres, "_WHEEL", "fake_pgserver")
    assert postgres._candidates() == [configured, on_path, packaged[2], packaged[1], packaged[0], wheel]
    assert postgres.find_postgres().version == "15.7"
    # Nothing of the machine's: the pip-installed server, as it says its version.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(postgres, "_SEARCHED", str(tmp_path / "nowhere" / "*" / "bin"))
    found = postgres.find_postgres()
    assert (found.bindir, found.version) == (wheel, "16.2")


def test_a_bin_folder_without_a_server_is_passed_over(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client_only = tmp_path / "16" / "bin"
    client_only.mkdir(parents=True)
    (client_only / "psql").touch()
    monkeypatch.setattr(postgres, "_candidates", lambda: [client_only])
    with pytest.raises(UsageError, match="needs a PostgreSQL server"):
        postgres.find_postgres()


def test_without_the_rds_locale_the_cluster_collates_with_icu_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def locale_a(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, "C\nC.utf8\nPOSIX\n", "")

    monkeypatch.setattr(postgres.subprocess, "run", locale_a)
    options, described = postgres._locale(Path("/bin"))
    assert ("--locale-provider", "icu") == options[4:6] and "en-US" in options
    assert described == "ICU en-US; en_US.UTF-8 is not installed here"


def test_the_rds_locale_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def locale_a(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, "C\nen_US.utf8\n", "")

    monkeypatch.setattr(postgres.subprocess, "run", locale_a)
    assert postgres._locale(Path("/bin")) == (("--locale", "en_US.UTF-8", "--encoding", "UTF8"), "en_US.UTF-8")


def test_the_script_reads_the_password_from_its_environment_and_stops_fast() -> None:
    install = PostgresInstall(Path("/pg/bin"), "15.18", None, ("--locale", "en_US.UTF-8"), "en_US.UTF-8")
    script = postgres_script(install, "/run/postgres/data", "127.0.0.1", 5999)
    assert '"$HOKUSAI_POSTGRES_PASSWORD"' in script and "unset HOKUSAI_POSTGRES_PASSWORD" in script
    assert "rm -f /run/postgres/data.password" in script
    assert "-h 127.0.0.1 -p 5999 -k ''" in script  # loopback TCP, no Unix socket
    assert "trap 'kill -INT $server" in script  # SIGTERM -> a fast shutdown
    assert "--auth-host scram-sha-256" in script


@pytest.fixture
def answering() -> Iterator[tuple[list[bytes], int]]:
    """A socket server answering each connection with the next canned reply (and recording what came)."""
    replies = [b"E", b"R"]
    got: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for reply in replies:
            conn, _ = server.accept()
            with conn:
                got.append(conn.recv(1024))
                conn.sendall(reply + b"\0\0\0\x08\0\0\0\x0a")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield got, server.getsockname()[1]
    server.close()


def test_up_means_asked_to_authenticate_not_merely_listening(answering: tuple[list[bytes], int]) -> None:
    got, port = answering
    assert accepts_logins("127.0.0.1", port) is False  # 'E': the database system is starting up
    assert accepts_logins("127.0.0.1", port) is True  # 'R': an authentication request
    assert got[0][4:8] == b"\x00\x03\x00\x00" and b"user\0mlflow\0" in got[0]  # protocol 3.0, no password


def test_nobody_listening_is_not_up() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert accepts_logins("127.0.0.1", port, timeout=0.5) is False
