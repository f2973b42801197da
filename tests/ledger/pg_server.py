"""Start a throw-away PostgreSQL 15 server on 127.0.0.1 in a temporary folder (tests, benchmarks).

`initdb` refuses to run as root, so as root the server runs as the `postgres` user (runuser).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_server_user(*command: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """postgresql://postgres@127.0.0.1:PORT/postgres, stopped and deleted on exit."""
    folder = Path(tempfile.mkdtemp(prefix="cartriage-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    try:
        subprocess.run(_as_server_user(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                                       "-U", "postgres", "--no-sync"), **quiet)
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=60")
        subprocess.run(_as_server_user(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                                       "-l", str(folder / "log"), "-w", "start"), **quiet)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m",
                                       "immediate", "-w", "stop"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(folder, ignore_errors=True)
