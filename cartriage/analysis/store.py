"""Outlines (definitions, imports, syntax errors) of blobs, cached on disk keyed by blob hash.

The fan-in index parses every new blob anyway, so it stores the whole outline here; `analyze`
then parses only the versions of changed files the index never saw (usually the old side).
SQLite rather than one JSON file: a plan looks up 20-40 blobs among thousands without reading
them all, and adds new ones without rewriting the rest.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import OrderedDict
from pathlib import Path

from cartriage.analysis.symbols import Definition, Import, Outline

FILE = "outlines-v1.sqlite"  # bump when what `outline` extracts changes (queries, is_public)
MAX_ROWS = 60_000  # about 15 MB; beyond it the oldest written go first
KEEP_ROWS = 40_000
RECENT_ROWS = 1_024  # outlines kept in memory within `recent()`: a commit's files, and more
_RECENT: OrderedDict[str, Outline] | None = None
_OPEN: dict[Path, sqlite3.Connection | None] = {}  # folder: its store, within `recent()`
_SCHEMA = "CREATE TABLE IF NOT EXISTS outline (key TEXT PRIMARY KEY, data TEXT)"


def connect(folder: Path | None) -> sqlite3.Connection | None:
    """The store under `folder` (`.git/cartriage/`), or None when it cannot be opened. Within
    `recent()` one connection per folder serves every caller (a batch opened it twice per
    commit); their `close` leaves it open until `recent()` ends."""
    if _RECENT is None or folder is None:
        return open_sqlite(folder, FILE, _SCHEMA)
    if folder not in _OPEN:
        _OPEN[folder] = open_sqlite(folder, FILE, _SCHEMA, _Shared)
    return _OPEN[folder]


class _Shared(sqlite3.Connection):
    """A connection shared within `recent()`: closed when it ends, not by its users."""

    def close(self) -> None:
        """Left open for the next caller (`recent()` closes it)."""


def open_sqlite(folder: Path | None, file: str, schema: str,
                factory: type[sqlite3.Connection] = sqlite3.Connection
                ) -> sqlite3.Connection | None:
    """The SQLite file `file` under `folder`, created with `schema` if new; None when it cannot
    be opened (a read-only repository: everything works, nothing is cached). A cache: writes
    are not synced to disk (`plan --batch` writes once per commit; only a crash of the
    operating system could lose them)."""
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(folder / file, timeout=5, factory=factory)
        db.execute("PRAGMA synchronous=OFF")
        db.execute(schema)
        return db
    except (OSError, sqlite3.Error):
        return None


def encode(result: Outline) -> str:
    return json.dumps([[(d.name, d.kind, d.start, d.end, d.public, d.signature)
                        for d in result.definitions],
                       [[i.spec, list(i.symbols)] for i in result.imports],
                       result.syntax_error], separators=(",", ":"))


def decode(data: str) -> Outline:
    definitions, imports, error = json.loads(data)
    return Outline([Definition(*d) for d in definitions],
                   [Import(spec, tuple(names)) for spec, names in imports], bool(error))


@contextlib.contextmanager
def recent():
    """Within: the last RECENT_ROWS outlines `keep` was given are served by `get` from memory
    (`plan --batch`: a commit's new versions are the next commit's old ones, and the index
    hands the analysis the outlines it just made), not read and decoded again; `connect`
    gives one connection per store, closed at the end."""
    global _RECENT
    _RECENT = OrderedDict()
    try:
        yield
    finally:
        _RECENT = None
        for db in _OPEN.values():
            if db is not None:
                sqlite3.Connection.close(db)
        _OPEN.clear()


def keep(outlines: dict[str, Outline]) -> None:
    """Keep `outlines` in memory, within `recent()` (the oldest go past RECENT_ROWS)."""
    if _RECENT is None:
        return
    for key, found in outlines.items():
        _RECENT[key] = found
        _RECENT.move_to_end(key)
    while len(_RECENT) > RECENT_ROWS:
        _RECENT.popitem(last=False)


def get(db: sqlite3.Connection | None, keys: list[str]) -> dict[str, Outline]:
    """Stored outlines of `keys` ("blob:language"), the ones kept in memory first; unreadable
    entries are left out."""
    found = {}
    if _RECENT is not None:
        found = {key: _RECENT[key] for key in keys if key in _RECENT}
        keys = [key for key in keys if key not in found]
    if db is None or not keys:
        return found
    try:
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, data in db.execute(f"SELECT key, data FROM outline WHERE key IN ({marks})",
                                        chunk):
                try:
                    found[key] = decode(data)
                except (ValueError, TypeError):
                    continue
    except sqlite3.Error:
        return found
    return found


def save(db: sqlite3.Connection | None, outlines: dict[str, Outline]) -> None:
    """Store `outlines` (`put`, encoded) and keep them in memory within `recent()` (`keep`)."""
    put(db, {key: encode(found) for key, found in outlines.items()})
    keep(outlines)


def put(db: sqlite3.Connection | None, entries: dict[str, str]) -> None:
    """Store encoded outlines; trims the oldest rows when the store outgrows MAX_ROWS."""
    if db is not None and entries:
        put_rows(db, "outline", entries.items(), MAX_ROWS, KEEP_ROWS)


def put_rows(db: sqlite3.Connection, table: str, rows, most: int, keep: int) -> None:
    """Write (key, data) rows into `table`; past `most` rows, only the `keep` newest stay.
    A store that cannot be written is only a slower next run."""
    try:
        with db:
            db.executemany(f"INSERT OR REPLACE INTO {table} (key, data) VALUES (?, ?)", rows)
            (count,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
            if count > most:
                db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                           "ORDER BY rowid LIMIT ?)", (count - keep,))
    except sqlite3.Error:
        pass
