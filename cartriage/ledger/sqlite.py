"""The SQLite ledger: one file, for one user or one machine's runners (the default).

Transactions start with `BEGIN IMMEDIATE`, which takes SQLite's write lock, so runners in other
processes wait (up to `BUSY_SECONDS`) rather than interleave. WAL mode lets readers go on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cartriage.ledger import LedgerUnavailable
from cartriage.ledger.sql import SQLLedger

BUSY_SECONDS = 60.0


class SQLiteLedger(SQLLedger):
    errors = (sqlite3.Error,)

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            self.connection.rollback()
            raise
        else:
            self.connection.commit()
        finally:
            cursor.close()


def open_ledger(path: str) -> SQLiteLedger:
    """The ledger in the SQLite file at `path` (created, with its folder, when missing)."""
    target = Path(path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(target, timeout=BUSY_SECONDS, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise LedgerUnavailable(f"ledger {target}: cannot open: {exc}") from None
    return SQLiteLedger(connection, str(target))
