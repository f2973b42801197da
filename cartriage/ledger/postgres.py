"""The PostgreSQL ledger, through psycopg 3: one database shared by a team's runners.

Every transaction first takes a transaction-level advisory lock (`pg_advisory_xact_lock`), so
reservations from any number of runners are checked and written one at a time; the lock goes
with the transaction, so a runner that dies holds nothing. Times come from the server's clock,
so runners with skewed clocks agree on when a reservation expires. The URL's password is never
printed: errors show the URL with it masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from cartriage.ledger import LedgerUnavailable, masked
from cartriage.ledger.sql import SQLLedger

LOCK_KEY = 0x6361727472  # "cartr": one advisory lock for the whole ledger
CONNECT_SECONDS = 10


class PostgresLedger(SQLLedger):
    errors = (psycopg.Error,)

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield cursor

    def _now(self, cursor: Any) -> float:
        cursor.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
        return float(cursor.fetchone()[0])

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")


def open_ledger(url: str) -> PostgresLedger:
    shown = masked(url)
    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS,
                                     application_name="cartriage")
    except psycopg.Error as exc:
        raise LedgerUnavailable(f"ledger {shown}: cannot connect: "
                                f"{_without(str(exc), url)}") from None
    return PostgresLedger(connection, shown)


def _without(message: str, url: str) -> str:
    """The driver's message on one line, without the URL (it may hold the password)."""
    return " ".join(message.replace(url, masked(url)).split())[:200]
