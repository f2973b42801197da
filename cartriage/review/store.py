"""On-disk state: the response cache and the SQLite log of every prompt and response.

Cache: one JSON file per response under `$CARTRIAGE_CACHE_DIR` (default
`$XDG_CACHE_HOME/cartriage/responses`), keyed by a hash of (model, endpoint, messages,
parameters), so a re-run of the same review in CI costs nothing. Log: like `llm`, one row per call
in `$CARTRIAGE_LOG_DB` (default `$XDG_DATA_HOME/cartriage/logs.db`), with tokens and cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def cache_dir(env=os.environ) -> Path:
    if env.get("CARTRIAGE_CACHE_DIR"):
        return Path(env["CARTRIAGE_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME", "~"), ".cache")
    return Path(os.path.expanduser(base)) / "cartriage" / "responses"


def log_path(env=os.environ) -> Path:
    if env.get("CARTRIAGE_LOG_DB"):
        return Path(env["CARTRIAGE_LOG_DB"])
    base = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME", "~"), ".local", "share")
    return Path(os.path.expanduser(base)) / "cartriage" / "logs.db"


def cache_key(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    """Responses on disk; reads and writes never fail a review (errors just miss the cache)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def get(self, key: str) -> dict | None:
        try:
            return json.loads((self.folder / key[:2] / f"{key}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        target = self.folder / key[:2] / f"{key}.json"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False,
                                             encoding="utf-8", suffix=".tmp") as handle:
                json.dump(value, handle, ensure_ascii=False)
            os.replace(handle.name, target)
        except OSError:
            pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    datetime_utc TEXT NOT NULL,
    model TEXT NOT NULL,
    api_base TEXT,
    unit_id TEXT,
    strategy TEXT,
    purpose TEXT,
    sample INTEGER,
    prompt TEXT NOT NULL,
    response TEXT,
    error TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    usd REAL,
    duration_ms INTEGER,
    cached INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS responses_run ON responses (run_id);
"""


class Log:
    """Append-only SQLite log; one connection per run, writes serialised by a lock."""

    def __init__(self, path: Path):
        self.path = path
        self.run_id = uuid.uuid4().hex
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=5)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def write(self, **row: Any) -> None:
        row = {"id": uuid.uuid4().hex, "run_id": self.run_id,
               "datetime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **row}
        row["prompt"] = json.dumps(row["prompt"], ensure_ascii=False)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._lock:
            self._db.execute(f"INSERT INTO responses ({columns}) VALUES ({marks})",
                             tuple(row.values()))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
