"""Scores cached on disk, so that scoring a change seen before loads neither numpy nor onnxruntime.

`score(change, analysis, config)` wraps `scoring.score` from the outside. The key covers all it
reads: the change and its analysis (every unit's content, roles, fan-in), the configuration's
[weights] and [[rules]], the model folder's files (so a retrained model misses) and the scoring
code itself. Entries live in SQLite next to the outline store (`.git/cartriage/`); a change
without a repository, or a repository that cannot be written, is scored every time.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cartriage

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from hashlib import _Hash as Hash

    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config
    from cartriage.intake.change import ChangeSet
    from cartriage.scoring.scores import Scores

FILE = "scores-v1.sqlite"  # bump when what is stored changes shape
MAX_ROWS = 5_000  # entries per store file; beyond it the oldest written go first
KEEP_ROWS = 4_000
_SCORING = Path(__file__).resolve().parent


def score(change: ChangeSet, analysis: Analysis, config: Config) -> Scores:
    """`scoring.score(change, analysis, config)`, from the cache when these inputs were scored."""
    db = connect(change.repo_root, FILE)
    try:
        key = key_of(change, analysis, config) if db is not None else ""
        found = load(db, key)
        if found is not None:
            return found
        from cartriage.scoring.predict import score as compute

        scores = compute(change, analysis, config)
        save(db, key, scores)
        return scores
    finally:
        if db is not None:
            db.close()


def score_many(changes: Sequence[tuple[ChangeSet, Analysis]], config: Config,
               prefix: Hash | None = None) -> list[Scores]:
    """`score` of each (change, analysis), in order; those not cached are computed together
    (`scoring.predict.score_many`: one encoder call, each model run once). `prefix`: see
    `key_prefix` (made here when not given)."""
    stores: dict[str | None, sqlite3.Connection | None] = {}
    out: list[Any] = []
    missing: list[tuple[int, str]] = []
    prefix = prefix or key_prefix(config)
    try:
        for at, (change, analysis) in enumerate(changes):
            if change.repo_root not in stores:
                stores[change.repo_root] = connect(change.repo_root, FILE)
            db = stores[change.repo_root]
            key = key_of(change, analysis, config, prefix) if db is not None else ""
            out.append(load(db, key))
            if out[-1] is None:
                missing.append((at, key))
        if missing:
            from cartriage.scoring.predict import score_many as compute

            computed = compute([changes[at] for at, _ in missing], config)
            for (at, key), scores in zip(missing, computed, strict=True):
                out[at] = scores
                save(stores[changes[at][0].repo_root], key, scores)
    finally:
        for db in stores.values():
            if db is not None:
                db.close()
    return out


# Changes scored together by score_batches: enough for one model run over all their units to
# pay, few enough that memory stays flat over a long batch.
BATCH = 32


def score_batches(changes: Iterable[tuple[ChangeSet, Analysis]],
                  config: Config) -> Iterator[tuple[ChangeSet, Analysis, Scores]]:
    """(change, analysis, scores) for each (change, analysis) of the stream, in order, scored
    BATCH at a time (score_many). The models and the scoring code are fingerprinted once, at
    the start: the models a batch loads are the ones it scores with to its end."""
    stream, prefix = iter(changes), key_prefix(config)
    while batch := list(itertools.islice(stream, BATCH)):
        for (change, analysis), scores in zip(batch, score_many(batch, config, prefix),
                                              strict=True):
            yield change, analysis, scores


def key_of(change: ChangeSet, analysis: Analysis, config: Config,
           prefix: Hash | None = None) -> str:
    """A digest of everything `scoring.score` reads (dataclass reprs are exact and ordered;
    the change's text as `ChangeSet.digest_parts` gives it, not one repr of it all). `prefix`
    (`key_prefix(config)`, which it copies) spares hashing the model files again per change.

    The analysis's notes are left out: they say how it was computed (e.g. how many files the
    fan-in index parsed this time), which differs between runs and is not scored."""
    digest = (prefix or key_prefix(config)).copy()
    for part in itertools.chain(change.digest_parts(), (repr(replace(analysis, notes=())),)):
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def key_prefix(config: Config) -> Hash:
    """The part of every key that does not depend on the change: cartriage's version, the
    models (by content: `models_fingerprint`), the scoring code, [weights] and [[rules]]."""
    digest = hashlib.sha256()
    for part in (cartriage.__version__, models_fingerprint(), code_fingerprint(),
                 repr(config.sections.get("weights")), repr(config.rules)):
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\0")
    return digest


def model_folder() -> Path:
    """The folder the models load from (`scoring.model.model_dir()`), found without importing
    numpy: `$CARTRIAGE_MODEL_DIR`, else the shipped `models/`."""
    override = os.environ.get("CARTRIAGE_MODEL_DIR")
    if override:
        return Path(override)
    package = Path(cartriage.__file__).resolve().parent
    shipped = package / "models"
    return shipped if shipped.is_dir() else package.parent / "models"


def models_fingerprint() -> str:
    """A digest of the model folder's files by content: retraining changes it."""
    digest = hashlib.sha256()
    folder = model_folder()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return "no models"
    for name in names:
        path = folder / name
        try:
            if path.is_dir():  # the encoder's folder: small files (its card, which names the
                # large files' sha256, checked at load) by content, large ones by size and time
                for inner in sorted(path.iterdir()):
                    if not inner.is_file():  # derive.py's __pycache__: reading it ended the loop
                        continue
                    stat = inner.stat()
                    digest.update(f"{name}/{inner.name}\0".encode() + (
                        inner.read_bytes() if stat.st_size <= 1 << 20
                        else f"{stat.st_size} {stat.st_mtime_ns}".encode()))
            else:
                digest.update(name.encode() + b"\0" + path.read_bytes())
        except OSError:  # unreadable: loading the model will say so
            digest.update(name.encode() + b"\0?")
    return digest.hexdigest()


def code_fingerprint() -> str:
    """Names, sizes and modification times of the scoring code: an edited feature extractor
    invalidates the cache even before the models are retrained."""
    parts = []
    for entry in sorted(os.scandir(_SCORING), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            stat = entry.stat()
            parts.append(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


# The store: pickles in SQLite, one file per kind of entry (the pipeline keeps plans too).

def connect(repo_root: str | None, file: str) -> sqlite3.Connection | None:
    """The store `file` under the repository's `.git/cartriage/`, or None without one."""
    if repo_root is None:
        return None
    from cartriage.analysis.fanin import cache_folder
    from cartriage.analysis.store import open_sqlite

    return open_sqlite(cache_folder(repo_root), file,
                       "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, data BLOB)")


def load(db: sqlite3.Connection | None, key: str) -> Any | None:
    """The value stored under `key`, or None (missing or unreadable)."""
    if db is None:
        return None
    try:
        row = db.execute("SELECT data FROM entries WHERE key = ?", (key,)).fetchone()
        return pickle.loads(row[0]) if row else None  # our own file under .git/, like hooks
    except (sqlite3.Error, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            TypeError, ValueError):
        return None  # unreadable: computed again and overwritten


def save(db: sqlite3.Connection | None, key: str, value: Any) -> None:
    """Store `value`; trims the oldest entries when the store outgrows MAX_ROWS."""
    if db is None:
        return
    from cartriage.analysis.store import put_rows

    put_rows(db, "entries", [(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))],
             MAX_ROWS, KEEP_ROWS)
