"""Ledger fixtures: a real PostgreSQL 15 server for the session, a fresh database per test,
and `ledger_url`, which runs a test on both backends.

The PostgreSQL tests skip only when the binaries are missing and we are not in CI: in CI
(`CI` set) they must run.
"""

from __future__ import annotations

import os

import pytest
from pg_server import PG_BIN, postgres_server


@pytest.fixture(scope="session")
def postgres_url():
    """postgresql://postgres@127.0.0.1:PORT/postgres of a server that lives for the session."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{PG_BIN}/initdb is missing, and the PostgreSQL tests must run in CI")
        pytest.skip(f"PostgreSQL 15 is not installed ({PG_BIN})")
    with postgres_server() as url:
        yield url


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
