"""A real PostgreSQL 15 server for the ledger tests, started in a temporary folder.

`initdb` refuses to run as root, so as root the server runs as the `postgres` user (runuser).
The tests skip only when the binaries are missing and we are not in CI: in CI they must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_server_user(*command: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """postgresql://postgres@127.0.0.1:PORT/postgres of a server that lives for the session."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{PG_BIN}/initdb is missing, and the PostgreSQL tests must run in CI")
        pytest.skip(f"PostgreSQL 15 is not installed ({PG_BIN})")
    folder = Path(tempfile.mkdtemp(prefix="cartriage-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    subprocess.run(_as_server_user(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                                   "-U", "postgres", "--no-sync"), **quiet)
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c max_connections=60")
    subprocess.run(_as_server_user(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                                   "-l", str(folder / "log"), "-w", "start"), **quiet)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                       "-w", "stop"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_ledger_url(postgres_url):
    """A fresh, empty database on the session's server for each test."""
    import psycopg

    name = f"ledger_{os.urandom(4).hex()}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path):
    """Each test that takes this runs on both backends."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    return request.getfixturevalue("postgres_ledger_url")
