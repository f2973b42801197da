"""The ledger in SQL, shared by both backends: schema, migrations and every transaction.

Every method is one transaction that holds the ledger's write lock (SQLite `BEGIN IMMEDIATE`,
a PostgreSQL transaction-level advisory lock), so a reservation's check of "spent + held + this
<= cap" and its insert cannot interleave with another runner's. Expired holds are deleted before
each check. Times are the database's clock (PostgreSQL) or this machine's (SQLite), in seconds.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cartriage.ledger import (
    Amount,
    Caps,
    Charge,
    LedgerFull,
    LedgerUnavailable,
    RunRecord,
    Scope,
    SpendRow,
    Totals,
    UnitRecord,
)

SCHEMA_VERSION = 1

# MIGRATIONS[n] takes the schema from version n to n + 1; the same SQL runs on both databases.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE cartriage_spend (
            id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, month TEXT NOT NULL,
            repository TEXT NOT NULL, pr TEXT NOT NULL, run_id TEXT NOT NULL,
            unit_id TEXT NOT NULL, strategy TEXT NOT NULL, model TEXT NOT NULL,
            tokens BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX cartriage_spend_month ON cartriage_spend (month)",
        "CREATE INDEX cartriage_spend_pr ON cartriage_spend (repository, pr)",
        """CREATE TABLE cartriage_holds (
            id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL, month TEXT NOT NULL,
            repository TEXT NOT NULL, pr TEXT NOT NULL, run_id TEXT NOT NULL,
            tokens BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE cartriage_units (
            repository TEXT NOT NULL, pr TEXT NOT NULL, content TEXT NOT NULL,
            strategy TEXT NOT NULL, model TEXT NOT NULL, unit_id TEXT NOT NULL,
            path TEXT NOT NULL, run_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
            tokens BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL, findings TEXT NOT NULL,
            PRIMARY KEY (repository, pr, content, strategy, model))""",
        """CREATE TABLE cartriage_runs (
            run_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, repository TEXT NOT NULL,
            pr TEXT NOT NULL, reviewed INTEGER NOT NULL, reused INTEGER NOT NULL,
            tokens BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL,
            reused_tokens BIGINT NOT NULL, reused_usd DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX cartriage_runs_pr ON cartriage_runs (repository, pr)",
    ),
)

_SUMS = """SELECT
    (SELECT COALESCE(SUM(tokens), 0) FROM cartriage_spend WHERE {where}),
    (SELECT COALESCE(SUM(usd), 0) FROM cartriage_spend WHERE {where}),
    (SELECT COALESCE(SUM(tokens), 0) FROM cartriage_holds WHERE {where} AND expires_at >= ?),
    (SELECT COALESCE(SUM(usd), 0) FROM cartriage_holds WHERE {where} AND expires_at >= ?)"""


def month_of(seconds: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(seconds))


class SQLLedger:
    """A `Ledger` over one DB-API connection; thread-safe (calls are serialised)."""

    url = ""
    errors: tuple[type[BaseException], ...] = ()  # the driver's errors: the ledger is unusable

    def __init__(self, connection: Any, url: str):
        self.connection = connection
        self.url = url
        self._lock = threading.Lock()
        self._migrate()

    # -- backend hooks ---------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[Any]:
        """A cursor inside a transaction that holds the ledger's write lock."""
        raise NotImplementedError

    def _now(self, cursor: Any) -> float:
        return time.time()

    def _sql(self, text: str) -> str:
        return text

    # -- the contract ----------------------------------------------------------------------
    def reserve(self, scope: Scope, amount: Amount, caps: Caps, ttl: float) -> str:
        hold = uuid.uuid4().hex
        with self._transaction() as (cursor, now):
            self._check(cursor, now, scope, amount, caps)
            self._run(cursor, "INSERT INTO cartriage_holds (id, at, expires_at, month, repository,"
                      " pr, run_id, tokens, usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (hold, now, now + ttl, month_of(now), scope.repository, scope.pr,
                       scope.run_id, amount.tokens, amount.usd))
        return hold

    def extend(self, hold: str, scope: Scope, amount: Amount, caps: Caps, ttl: float) -> None:
        with self._transaction() as (cursor, now):
            self._run(cursor, "SELECT id FROM cartriage_holds WHERE id = ?", (hold,))
            if cursor.fetchone() is None:
                raise LedgerFull("the reservation expired before the unit finished")
            self._check(cursor, now, scope, amount, caps)
            self._run(cursor, "UPDATE cartriage_holds SET tokens = tokens + ?, usd = usd + ?, "
                      "expires_at = ? WHERE id = ?", (amount.tokens, amount.usd, now + ttl, hold))

    def settle(self, hold: str, scope: Scope, charge: Charge, ttl: float) -> None:
        spent = charge.amount
        with self._transaction() as (cursor, now):
            self._run(cursor, "INSERT INTO cartriage_spend (id, at, month, repository, pr, run_id,"
                      " unit_id, strategy, model, tokens, usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
                      " ?, ?)", (uuid.uuid4().hex, now, month_of(now), scope.repository,
                                 scope.pr, scope.run_id, charge.unit_id, charge.strategy,
                                 charge.model, spent.tokens, spent.usd))
            self._run(cursor, "UPDATE cartriage_holds SET tokens = CASE WHEN tokens > ? THEN "
                      "tokens - ? ELSE 0 END, usd = CASE WHEN usd > ? THEN usd - ? ELSE 0 END, "
                      "expires_at = ? WHERE id = ?",
                      (spent.tokens, spent.tokens, spent.usd, spent.usd, now + ttl, hold))

    def release(self, hold: str) -> None:
        with self._transaction() as (cursor, _):
            self._run(cursor, "DELETE FROM cartriage_holds WHERE id = ?", (hold,))

    def totals(self, scope: Scope | None = None, month: str | None = None) -> Totals:
        with self._transaction() as (cursor, now):
            return self._totals(cursor, now, *_where(scope, month))

    def spend(self, repository: str | None = None, pr: str | None = None) -> list[SpendRow]:
        where, values = ["1 = 1"], []
        for column, value in (("repository", repository), ("pr", pr)):
            if value is not None:
                where.append(f"{column} = ?")
                values.append(value)
        with self._transaction(write=False) as (cursor, _):
            self._run(cursor, "SELECT month, repository, pr, strategy, model, COUNT(*), "
                      "SUM(tokens), SUM(usd) FROM cartriage_spend WHERE " + " AND ".join(where)
                      + " GROUP BY month, repository, pr, strategy, model "
                      "ORDER BY month, repository, pr, strategy, model", tuple(values))
            return [SpendRow(*row[:5], int(row[5]), int(row[6]), float(row[7]))
                    for row in cursor.fetchall()]

    def remember_unit(self, scope: Scope, record: UnitRecord) -> None:
        columns = ("repository", "pr", "content", "strategy", "model", "unit_id", "path",
                   "run_id", "at", "tokens", "usd", "findings")
        with self._transaction() as (cursor, now):
            self._run(cursor, f"INSERT INTO cartriage_units ({', '.join(columns)}) VALUES "
                      f"({', '.join('?' for _ in columns)}) ON CONFLICT (repository, pr, content,"
                      " strategy, model) DO UPDATE SET unit_id = excluded.unit_id, path = "
                      "excluded.path, run_id = excluded.run_id, at = excluded.at, tokens = "
                      "excluded.tokens, usd = excluded.usd, findings = excluded.findings",
                      (scope.repository, scope.pr, record.content, record.strategy,
                       record.model, record.unit_id, record.path, record.run_id, now,
                       record.tokens, record.usd, json.dumps(list(record.findings))))

    def reviewed_units(self, scope: Scope) -> dict[tuple[str, str, str], UnitRecord]:
        with self._transaction(write=False) as (cursor, _):
            self._run(cursor, "SELECT content, strategy, model, unit_id, path, run_id, tokens, "
                      "usd, findings FROM cartriage_units WHERE repository = ? AND pr = ?",
                      (scope.repository, scope.pr))
            rows = cursor.fetchall()
        records = (UnitRecord(*row[:6], int(row[6]), float(row[7]), tuple(json.loads(row[8])))
                   for row in rows)
        return {(r.content, r.strategy, r.model): r for r in records}

    def record_run(self, scope: Scope, run: RunRecord) -> None:
        with self._transaction() as (cursor, now):
            self._run(cursor, "INSERT INTO cartriage_runs (run_id, at, repository, pr, reviewed, "
                      "reused, tokens, usd, reused_tokens, reused_usd) VALUES (?, ?, ?, ?, ?, ?, "
                      "?, ?, ?, ?)", (run.run_id, now, scope.repository, scope.pr, run.reviewed,
                                      run.reused, run.tokens, run.usd, run.reused_tokens,
                                      run.reused_usd))

    def runs(self, repository: str, pr: str) -> list[RunRecord]:
        with self._transaction(write=False) as (cursor, _):
            self._run(cursor, "SELECT run_id, reviewed, reused, tokens, usd, reused_tokens, "
                      "reused_usd, at FROM cartriage_runs WHERE repository = ? AND pr = ? "
                      "ORDER BY at", (repository, pr))
            return [RunRecord(r[0], int(r[1]), int(r[2]), int(r[3]), float(r[4]), int(r[5]),
                              float(r[6]), float(r[7])) for r in cursor.fetchall()]

    def close(self) -> None:
        with self._lock:
            self.connection.close()

    # -- inside a transaction --------------------------------------------------------------
    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[tuple[Any, float]]:
        """(cursor, now) in a locked transaction; the driver's errors become LedgerUnavailable."""
        try:
            with self._lock, self._locked() as cursor:
                now = self._now(cursor)
                if write:
                    self._run(cursor, "DELETE FROM cartriage_holds WHERE expires_at < ?", (now,))
                yield cursor, now
        except self.errors as exc:
            raise LedgerUnavailable(f"ledger {self.url}: {_first_line(exc)}") from None

    def _run(self, cursor: Any, sql: str, values: tuple = ()) -> None:
        cursor.execute(self._sql(sql), values)

    def _check(self, cursor: Any, now: float, scope: Scope, amount: Amount, caps: Caps) -> None:
        """LedgerFull unless spent + held + `amount` fits every cap."""
        scopes = []
        if caps.per_pr_tokens is not None or caps.per_pr_usd is not None:
            scopes.append(("this PR", _where(scope, None), caps.per_pr_tokens, caps.per_pr_usd))
        if caps.monthly_tokens is not None or caps.monthly_usd is not None:
            scopes.append((f"the {month_of(now)} budget", _where(None, month_of(now)),
                           caps.monthly_tokens, caps.monthly_usd))
        for name, where, cap_tokens, cap_usd in scopes:
            totals = self._totals(cursor, now, *where)
            used_tokens = totals.spent.tokens + totals.reserved.tokens
            used_usd = totals.spent.usd + totals.reserved.usd
            if cap_tokens is not None and used_tokens + amount.tokens > cap_tokens:
                raise LedgerFull(f"{name}: needs up to {amount.tokens:,} tokens, "
                                 f"{max(0, cap_tokens - used_tokens):,} of {cap_tokens:,} left")
            if cap_usd is not None and used_usd + amount.usd > cap_usd + 1e-12:
                raise LedgerFull(f"{name}: needs up to ${amount.usd:.4f}, "
                                 f"${max(0.0, cap_usd - used_usd):.4f} of ${cap_usd:.4f} left")

    def _totals(self, cursor: Any, now: float, where: str, values: tuple) -> Totals:
        # One statement: one snapshot of spend and holds together.
        self._run(cursor, _SUMS.format(where=where), (*values, *values, *values, now,
                                                      *values, now))
        tokens, usd, held_tokens, held_usd = cursor.fetchone()
        return Totals(Amount(int(tokens), float(usd)), Amount(int(held_tokens), float(held_usd)))

    def _migrate(self) -> None:
        with self._transaction(write=False) as (cursor, _):
            self._run(cursor, "CREATE TABLE IF NOT EXISTS cartriage_schema "
                      "(version INTEGER NOT NULL)")
            self._run(cursor, "SELECT version FROM cartriage_schema")
            row = cursor.fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise LedgerUnavailable(
                    f"ledger {self.url}: schema version {version} is newer than this cartriage "
                    f"knows ({SCHEMA_VERSION}): upgrade cartriage")
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self._run(cursor, statement)
            if row is None:
                self._run(cursor, "INSERT INTO cartriage_schema (version) VALUES (?)",
                          (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                self._run(cursor, "UPDATE cartriage_schema SET version = ?", (SCHEMA_VERSION,))


def _where(scope: Scope | None, month: str | None) -> tuple[str, tuple]:
    if scope is not None:
        return "repository = ? AND pr = ?", (scope.repository, scope.pr)
    if month is not None:
        return "month = ?", (month,)
    return "1 = 1", ()


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
