"""Calibration outcomes kept in the review stage's SQLite log database, for resuming.

The log (`$CARTRIAGE_LOG_DB`, see `review.store`) already holds every prompt and response of the
calibration's reviews; this table adds one row per (case, strategy) outcome, keyed by what makes it
reusable. With `[llm] log = false` nothing is kept and a calibration cannot resume.
"""

from __future__ import annotations

import json
import sqlite3
import time

from cartriage.review.store import log_path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calibration_outcomes (
    key TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    strategy TEXT NOT NULL,
    outcome TEXT NOT NULL,
    datetime_utc TEXT NOT NULL
);
"""


class Outcomes:
    """Outcomes by key; `open` returns None when logging is off or the database is unusable."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    @classmethod
    def open(cls, config) -> Outcomes | None:
        if not config.get("llm", "log"):
            return None
        try:
            path = log_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=5)
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error):
            return None
        return cls(db)

    def get(self, key: str) -> dict | None:
        row = self._db.execute("SELECT outcome FROM calibration_outcomes WHERE key = ?",
                               (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, case_id: str, strategy: str, outcome: dict) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO calibration_outcomes VALUES (?, ?, ?, ?, ?)",
            (key, case_id, strategy, json.dumps(outcome),
             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        self._db.commit()

    def close(self) -> None:
        self._db.close()
