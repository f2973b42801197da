"""Fan-in: how many other files of the repository import a file, and which of its names.

Imports are extracted with tree-sitter from every source file at the change's new revision (for
Python, from its import statements alone: `languages/python.py`, `import_statements`) and
cached under `.git/cartriage/` keyed by blob hash (and language), so a second run parses only
the blobs it has not seen. The parse of a changed file also gives its definitions, kept in the
outline store (store.py) so that analysing the change does not parse it again; its old version
is parsed first when the store lacks it, and the new one reparsed from its tree (trees.py).
Imports are joined to files (module keys, relative paths, package re-exports) by a `Resolver`
kept for the last tree built (in memory and in `.git/cartriage/`): the next tree, usually a
commit on top of it, updates it from the files that differ.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import io
import json
import operator
import os
import pickle
import posixpath
import re
import subprocess
import time
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from cartriage.analysis import languages, minified, store, trees
from cartriage.analysis.symbols import Outline, outline, outline_edited
from cartriage.config import globs_pattern
from cartriage.intake.change import INDEX, WORKTREE

CACHE_VERSION = 3  # 3: minified files have no imports
CACHE_FILE = "imports-v3.json"
STATE_FILE = "fan-in-v2.pickle"  # the last tree's index (_State); bump when it changes shape
PARALLEL_FROM = 200  # whole files to parse before worker processes are worth their start-up
_SCRIPT = re.compile(rb"<script[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_EMBEDDED = {".vue": "vue", ".svelte": "svelte"}
_HEX = frozenset("0123456789abcdef")
_BARRELS = ("__init__.py", "index.js", "index.ts", "index.tsx", "index.mjs", "index.jsx",
            "mod.rs", "lib.rs")


@dataclass
class Index:
    """Who imports whom at one revision. Paths are repository paths.

    The index `build` returns is a view of the in-memory state: it holds until the next build."""

    files: dict[str, str]
    importers: dict[str, set[str]] = field(default_factory=dict)
    symbols: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    via_package: dict[str, set[str]] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    _sorted: list[int] = field(default_factory=list)

    def fan_in(self, path: str) -> int | None:
        """Other files importing `path` (directly or through a package that re-exports it)."""
        if path not in self.files:
            return None
        return len(self.importers.get(path, ())) + len(self.via_package.get(path, ()))

    def percentile(self, count: int) -> float:
        """Share of indexed files (in %) whose fan-in is lower than `count`."""
        if not self._sorted:  # every file's fan_in, counted in C (a batch asks per commit)
            files = list(self.files)
            self._sorted = sorted(map(operator.add, *(
                map(len, map(table.get, files, repeat(())))
                for table in (self.importers, self.via_package))))
        return round(100.0 * bisect.bisect_left(self._sorted, count) / len(self._sorted), 1)

    def symbol_fan_in(self, path: str, name: str) -> int | None:
        """Files importing `name` (top-level) from `path`, when imports name their symbols."""
        table = self.symbols.get(path)
        if not table:
            return None
        return len(table.get(name.split(".")[0], ()))


@dataclass
class _State:
    """The index of the last tree built, kept in memory (and on disk) to be updated from the
    next tree's differences rather than rebuilt: `plan --batch` walks commits one by one, and
    a new commit is usually planned after its parent."""

    options: str  # what selects the files: the ignore pattern, max_bytes, CACHE_VERSION
    rev: str | None = None  # the commit whose tree this is (None: the index or work tree)
    entries: dict[str, tuple[str, str]] = field(default_factory=dict)  # path: (blob, language)
    sizes: dict[str, int] = field(default_factory=dict)  # blob: bytes, of blobs seen
    resolver: Resolver = field(default_factory=lambda: Resolver())
    extra: tuple[str, ...] = ()  # paths added for one build only (files the change deletes)


_STATES: dict[Path | None, _State] = {}
_HELD: set[Path | None] = set()  # repositories whose state is written once, at the end


def build(repo_root: str, rev: str, *, ignored: re.Pattern | None = None,
          max_bytes: int = 1_000_000, extra: dict[str, str] | None = None,
          workers: int = 2, base: tuple[str, tuple] | None = None,
          outlined: frozenset[str] = frozenset(),
          blobs: dict[str, bytes] | None = None) -> Index:
    """The import index of the repository at `rev` (a sha, INDEX or WORKTREE).

    `ignored` matches paths left out (see `ignore_pattern`); `extra` adds files (path:
    language, e.g. the ones the change deletes) for this build only. With `base` = (the
    parent commit, the change's FileChanges), an index kept for the parent is updated from
    the change instead of listing the tree. Imports are extracted once per blob; the blobs
    named in `outlined` ("blob:language") get their whole outline stored too. `blobs` (sha:
    contents: the change's files, already read) are not read again.
    """
    blobs = blobs or {}
    started = time.perf_counter()
    cache_path = _cache_path(repo_root)
    options = json.dumps([CACHE_VERSION, max_bytes, ignored.pattern if ignored else None])
    state = _state(cache_path, options)
    _undo_extra(state)
    commit = rev if _is_commit(rev) else None
    entries, paths = None, None  # paths: all that may differ from the kept state's, if known
    if commit is not None and state.rev == commit:
        entries, paths = state.entries, ()
    elif commit is not None and base is not None and state.rev == base[0]:
        entries = _changed_entries(repo_root, state, base[1], ignored, max_bytes, blobs)
        paths = {p for f in base[1] for p in (f.path, f.old_path) if p}
    if entries is None:
        paths = None
        tree = list_tree(repo_root, rev)
        state.sizes.update((blob, size) for _, blob, size in tree if size is not None)
        entries = {path: (blob, lang) for path, blob, size in tree
                   if (size is None or size <= max_bytes)
                   and (lang := _language(path)) is not None
                   and not (ignored and ignored.match(path))}
    if paths is None:
        paths = state.entries.keys() | entries.keys()
    changed = {path: entries.get(path) for path in paths
               if state.entries.get(path) != entries.get(path)}
    parsed, parsed_bytes = [], 0
    if changed:
        cache = _load(cache_path)
        missing = {f"{blob}:{lang}": (blob, lang, path) for path, (blob, lang)
                   in ((p, e) for p, e in changed.items() if e is not None)
                   if f"{blob}:{lang}" not in cache}
        if missing:
            parsed, parsed_bytes = list(missing), _extract_missing(
                repo_root, rev, missing, cache, workers,
                cache_path.parent if cache_path else None, outlined, blobs,
                _versions_before(base[1]) if base is not None else {})
        state.resolver.update({path: entry and entry[1] for path, entry in changed.items()},
                              {path: cache.get(f"{blob}:{lang}", []) for path, (blob, lang)
                               in ((p, e) for p, e in changed.items() if e is not None)})
        state.entries = entries
        if missing and cache_path not in _HELD:
            _save(cache_path, cache, {f"{b}:{lang}" for b, lang in entries.values()})
    if state.rev != commit or changed:
        state.rev = commit
        if cache_path not in _HELD:
            _save_state(cache_path, state)
    added = {path: lang for path, lang in (extra or {}).items() if path not in entries}
    if added:
        state.resolver.update(added, {})
        state.extra = tuple(added)
    resolver = state.resolver
    index = Index(files=resolver.files, importers=resolver.importers, symbols=resolver.symbols,
                  via_package=resolver.via)
    index.stats = {"files": len(entries), "parsed": len(parsed), "parsed_bytes": parsed_bytes,
                   "seconds": time.perf_counter() - started}
    return index


@contextlib.contextmanager
def held(repo_root: str, span: str | None = None):
    """Within: builds keep the index and the imports cache in memory only; both are written
    once, at the end (`plan --batch`: no rewrite per commit). Blobs are read through one
    `git cat-file --batch` process kept open, not one per commit, and the outlines made are
    also kept in memory (`store.recent`) for the analysis and the next commit. With `span`
    (A..B, the batch's first-parent commits), the trees of new versions that a later commit
    of it changes again are kept (`trees.Kept`), so that commit reparses them."""
    cache_path = _cache_path(repo_root)
    _HELD.add(cache_path)
    reader = _READERS[repo_root] = _Reader(repo_root)
    if span is not None:
        _BATCHES[repo_root] = _batch_uses(repo_root, span)
    try:
        with store.recent():
            yield
    finally:
        _HELD.discard(cache_path)
        _READERS.pop(repo_root, None)
        _BATCHES.pop(repo_root, None)
        reader.close()
        state = _STATES.get(cache_path)
        if state is not None:
            _undo_extra(state)
            _save(cache_path, _load(cache_path),
                  {f"{b}:{lang}" for b, lang in state.entries.values()})
            _save_state(cache_path, state)


def _batch_uses(repo_root: str, span: str) -> tuple[dict[str, int], trees.Kept]:
    """The position of each first-parent commit of A..B (oldest first), and the batch's
    `trees.Kept`, given the positions of the commits whose old version each blob is (from
    one `git log --raw`, no diff: a few milliseconds). Nothing is kept when the log cannot
    be read."""
    left, right = span.split("..", 1)
    try:
        log = _git(repo_root, "log", "--first-parent", "--diff-merges=first-parent",
                   "--reverse", "--raw", "--no-abbrev", "-M", "--format=%x00%H",
                   f"{left or 'HEAD'}..{right or 'HEAD'}", "--")
    except OSError:
        return {}, trees.Kept({})
    positions: dict[str, int] = {}
    uses: dict[str, list[int]] = {}
    for position, record in enumerate(log.split(b"\0")[1:]):
        sha, *lines = record.decode("utf-8", errors="replace").split("\n")
        positions[sha.strip()] = position
        for line in lines:
            fields = line.split("\t", 1)[0].split()
            if len(fields) == 5 and line.startswith(":") and set(fields[2]) != {"0"}:
                uses.setdefault(fields[2], []).append(position)
    return positions, trees.Kept(uses)


_BATCHES: dict[str, tuple[dict[str, int], trees.Kept]] = {}  # within `held` with a span


def _is_commit(rev: str) -> bool:
    return len(rev) == 40 and set(rev) <= _HEX


def _undo_extra(state: _State) -> None:
    if state.extra:
        state.resolver.update(dict.fromkeys(state.extra), {})
        state.extra = ()


def _changed_entries(repo_root: str, state: _State, files: tuple, ignored: re.Pattern | None,
                     max_bytes: int, blobs: dict[str, bytes]
                     ) -> dict[str, tuple[str, str]] | None:
    """The parent's entries with the change's files applied; None when the change does not
    say enough (a renamed blob the index did not hold), so the tree is listed instead."""
    entries = dict(state.entries)
    renamed = {}  # old path: blob, for renames whose diff names no blob
    added = []
    for file in files:
        if file.submodule:
            continue
        old_path = file.old_path or file.path
        if file.status != "added":
            renamed[old_path] = entries.pop(old_path, (file.old_blob, ""))[0]
        lang = _language(file.path)
        if file.status == "deleted" or lang is None or (ignored and ignored.match(file.path)):
            continue
        blob = file.new_blob or renamed.get(old_path)
        if blob is None:
            return None
        added.append((file.path, blob, lang))
    state.sizes.update((blob, len(blobs[blob])) for _, blob, _ in added if blob in blobs)
    unknown = sorted({blob for _, blob, _ in added if blob not in state.sizes})
    if unknown:
        state.sizes.update((blob, len(data)) for blob, data in
                           read_blobs(repo_root, unknown).items())
    for path, blob, lang in added:
        if blob not in state.sizes:
            return None
        if state.sizes[blob] <= max_bytes:
            entries[path] = (blob, lang)
    return entries


def _state(cache_path: Path | None, options: str) -> _State:
    """The kept state for these options: in memory, else from disk, else empty."""
    state = _STATES.get(cache_path)
    if state is None or state.options != options:
        state = _load_state(cache_path, options) or _State(options)
        _STATES[cache_path] = state
    return state


def _load_state(cache_path: Path | None, options: str) -> _State | None:
    if cache_path is None:
        return None
    gc.disable()  # a collection pass per thousands of containers loaded doubles the time
    try:
        with open(cache_path.parent / STATE_FILE, "rb") as file:
            state = pickle.load(file)
    except Exception:  # noqa: BLE001 - an unreadable or old state is rebuilt
        return None
    finally:
        gc.enable()
    return state if isinstance(state, _State) and state.options == options else None


def _save_state(cache_path: Path | None, state: _State) -> None:
    if cache_path is None or state.extra:
        return
    state.sizes = {blob: state.sizes[blob] for blob, _ in state.entries.values()
                   if blob in state.sizes}
    write_bytes(cache_path.parent / STATE_FILE, pickle.dumps(state, pickle.HIGHEST_PROTOCOL))


@functools.lru_cache(maxsize=65_536)  # a batch lists the same paths for every commit
def _language(path: str) -> str | None:
    return languages.detect(path) or _EMBEDDED.get(posixpath.splitext(path)[1].lower())


def ignore_pattern(globs: list[str]) -> re.Pattern | None:
    """One compiled regex for [ignore] globs, matching what `Config.ignored` matches."""
    return globs_pattern(tuple(globs))


def write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` atomically; a read-only repository still works, it is just not cached."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        pass


# Listing and reading the repository.

def _git(repo_root: str, *args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["git", "-C", repo_root, "-c", "core.quotePath=false", *args],
                          input=data, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise OSError(message[0] if message else f"git {args[0]} failed")
    return done.stdout


def list_tree(repo_root: str, rev: str) -> list[tuple[str, str, int | None]]:
    """(path, blob sha, size if known) of every file at `rev`; WORKTREE hashes edited files.
    A commit's (its tree cannot change) is listed once for the index and context both."""
    if _is_commit(rev):
        return list(_commit_tree(repo_root, rev))
    return _listed(repo_root, rev)


@functools.lru_cache(maxsize=1)
def _commit_tree(repo_root: str, rev: str) -> tuple[tuple[str, str, int | None], ...]:
    return tuple(_listed(repo_root, rev))


def _listed(repo_root: str, rev: str) -> list[tuple[str, str, int | None]]:
    out = []
    if rev in (INDEX, WORKTREE):
        for record in _git(repo_root, "ls-files", "-s", "-z").split(b"\0"):
            if record:
                meta, _, path = record.partition(b"\t")
                mode, sha, _stage = meta.split()
                if mode != b"160000":
                    out.append((path.decode("utf-8", errors="replace"), sha.decode(), None))
        if rev == WORKTREE:
            out = _worktree_blobs(repo_root, out)
        return out
    for record in _git(repo_root, "ls-tree", "-r", "-l", "-z", "--full-tree", rev).split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            _mode, kind, sha, size = meta.split()
            if kind == b"blob":
                out.append((path.decode("utf-8", errors="replace"), sha.decode(),
                            int(size) if size.isdigit() else None))
    return out


def _worktree_blobs(repo_root: str, entries):
    """Index entries, with edited and untracked (not ignored) files hashed as they are now."""
    edited = [p.decode("utf-8", errors="replace")
              for p in _git(repo_root, "ls-files", "-m", "-o", "--exclude-standard", "-z")
              .split(b"\0") if p]
    known = {e[0] for e in entries}
    entries = entries + [(p, "", None) for p in edited if p not in known]
    present = [p for p in edited if os.path.isfile(os.path.join(repo_root, p))]
    if not present:
        return [e for e in entries if e[0] not in edited]
    shas = _git(repo_root, "hash-object", "--stdin-paths",
                data="\n".join(present).encode()).decode().split()
    fresh = dict(zip(present, shas, strict=False))
    return [(p, fresh[p], None) if p in fresh else (p, s, n) for p, s, n in entries
            if p in fresh or p not in edited]


def read_blobs(repo_root: str, shas: list[str]) -> dict[str, bytes]:
    """Blob contents through one `git cat-file --batch`; those the last build read are taken
    from it instead (each once: then they are no longer held; `forget_reads` drops the rest)."""
    last = _LAST_READ.pop(repo_root, {})
    found = {sha: last.pop(sha) for sha in shas if sha in last}
    if last:
        _LAST_READ[repo_root] = last
    found.update((answer[0], answer[1]) for answer in _cat_file(
        repo_root, [sha for sha in shas if sha not in found]) if answer is not None)
    return found


def read_paths(repo_root: str, rev: str, paths: list[str]) -> dict[str, tuple[str, bytes]]:
    """(blob sha, contents) of files at a commit or the index (INDEX), through one `git
    cat-file --batch`; files that are missing (or not blobs) are left out."""
    paths = [p for p in paths if "\n" not in p]
    prefix = ":" if rev == INDEX else f"{rev}:"
    return {path: found for path, found in zip(
        paths, _cat_file(repo_root, [prefix + p for p in paths]), strict=True)
        if found is not None}


def _cat_file(repo_root: str, names: list[str]) -> list[tuple[str, bytes] | None]:
    """(sha, contents) of each object named, in order; None for one missing or not a blob."""
    if not names:
        return []
    reader = _READERS.get(repo_root)
    if reader is not None:
        return reader.read(names)
    data = _git(repo_root, "cat-file", "--batch", data="\n".join(names).encode() + b"\n")
    return _answers(io.BytesIO(data), len(names))


def _answers(stream, count: int) -> list[tuple[str, bytes] | None]:
    """Up to `count` answers of `git cat-file --batch` read from `stream` (fewer if it ends):
    (sha, contents) of each object, None for one missing or not a blob."""
    found: list[tuple[str, bytes] | None] = []
    while len(found) < count and (header := stream.readline().split()):
        if len(header) < 3 or header[-1] in (b"missing", b"ambiguous"):
            found.append(None)
            continue
        data = stream.read(int(header[2]) + 1)[:-1]
        found.append((header[0].decode(), data) if header[1] == b"blob" else None)
    return found


def _versions_before(files: tuple) -> dict[str, tuple[str, str, tuple]]:
    """New version ("blob:language") of each changed file: (its old version, the old blob,
    the hunks between them), for the reparse of the new from the old."""
    found = {}
    for f in files:
        lang = _language(f.path)
        if (f.status in ("modified", "renamed") and f.old_blob and f.new_blob and f.hunks
                and lang is not None and _language(f.old_path or f.path) == lang):
            found[f"{f.new_blob}:{lang}"] = (f"{f.old_blob}:{lang}", f.old_blob, f.hunks)
    return found


def _extract_missing(repo_root: str, rev: str, missing: dict, cache: dict, workers: int,
                     folder: Path | None = None, outlined: frozenset[str] = frozenset(),
                     blobs: dict[str, bytes] | None = None,
                     before: dict[str, tuple[str, str, tuple]] | None = None) -> int:
    by_sha = {blob: (blobs or {})[blob] for blob, _, _ in missing.values()
              if blob in (blobs or {})}
    by_sha.update(read_blobs(repo_root, sorted({blob for blob, _, _ in missing.values()
                                                if blob not in by_sha})))
    if rev == WORKTREE:
        for blob, _, path in missing.values():
            if blob not in by_sha and os.path.isfile(os.path.join(repo_root, path)):
                by_sha[blob] = Path(repo_root, path).read_bytes()
    if _is_commit(rev) and repo_root not in _READERS:  # a commit's plan, not a batch: its
        _LAST_READ[repo_root] = dict(by_sha)  # context reads these next (`read_blobs`)
    jobs = [(key, lang, by_sha[blob], key in outlined) for key, (blob, lang, _) in missing.items()
            if blob in by_sha]
    total = sum(len(job[2]) for job in jobs)
    outlines: dict[str, Outline] = {}
    light, whole = [], []  # imports from a scan's statements; whole files to parse
    for job in jobs:
        (light if _scanned(job[1]) and not job[3] else whole).append(job)
    if workers > 1 and len(whole) >= PARALLEL_FROM:
        import multiprocessing

        whole.sort(key=lambda job: -len(job[2]))  # big files first: even the workers' load
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.imap_unordered(_extract, whole, chunksize=8)
            _collect(results, cache, outlines)
        whole = []
    _collect(map(_extract, light), cache, outlines)
    db = store.connect(folder) if folder is not None and (whole or outlines) else None
    if whole:
        before = before or {}
        stored = store.get(db, [before[job[0]][0] for job in whole if job[0] in before])
        positions, kept = _BATCHES.get(repo_root, ({}, None))
        if rev in positions:
            kept.at(positions[rev])
        else:
            kept = None
        _collect((_extract_reparsed(job, before.get(job[0]), blobs or {}, stored, outlines,
                                    kept) for job in whole), cache, outlines)
    store.save(db, outlines)
    if db is not None:
        db.close()
    return total


def _scanned(lang: str) -> bool:
    """Whether the language's imports come from a scan of its import statements (a few
    hundred microseconds a file: not worth a worker process)."""
    language = languages.get(lang)
    return language is not None and hasattr(language.module, "import_statements")


def _collect(results, cache: dict, outlines: dict[str, Outline]) -> None:
    for key, imports, found in results:
        cache[key] = imports
        if found is not None:
            outlines[key] = found


def _extract(job: tuple[str, str, bytes, bool]) -> tuple[str, list, Outline | None]:
    """Imports of one blob for the index and, when `whole`, its whole outline for the store:
    definitions cost a query as long as the parse, and only changed files need them. A
    minified file (as `analysis.minified` finds, e.g. a JavaScript bundle) is not parsed."""
    key, lang, data, whole = job
    if minified(data):  # a bundle: its imports were resolved when it was built
        return key, [], None
    embedded = lang in ("vue", "svelte")
    if embedded:
        data, lang = b"\n".join(_SCRIPT.findall(data)), "typescript"
    whole = whole and not embedded
    language = languages.get(lang)
    try:
        result = outline(language, data, definitions=whole)
    except Exception:  # noqa: BLE001 - a grammar failure must not stop the index
        return key, [], None
    imports = [[i.spec, list(i.symbols)] for i in result.imports]
    return key, imports, result if whole else None


def _extract_reparsed(job: tuple[str, str, bytes, bool], before: tuple[str, str, tuple] | None,
                      blobs: dict[str, bytes], stored: dict, outlines: dict[str, Outline],
                      kept: trees.Kept | None = None) -> tuple[str, list, Outline | None]:
    """`_extract` of a whole file in this process. The new version is reparsed from the old
    one's tree: kept from an earlier commit of the batch (`kept`), or, when the old version's
    outline is wanted and not stored, parsed first (its outline stored too). A batch keeps
    the new version's tree for the later commit that changes it again."""
    key, lang, data, whole = job
    if not whole or lang in _EMBEDDED.values() or minified(data):
        return _extract(job)
    previous = kept.take(before[0]) if kept is not None and before is not None else None
    old = blobs.get(before[1]) if (previous is None and before is not None
                                   and before[0] not in stored) else None
    if old is not None and minified(old):
        old = None
    if previous is None and old is None and kept is None:
        return _extract(job)
    language = languages.get(lang)
    try:
        if old is not None:
            previous = (old, trees.parse(language, old))
        if previous is not None and before[0] not in stored:
            outlines[before[0]] = outline(language, previous[0], tree=previous[1])
        tree = trees.reparse(language, data, previous, before[2]) if previous else None
        result = None if tree is None else outline_edited(
            language, data, tree, previous,
            stored[before[0]] if before[0] in stored else outlines[before[0]], before[2])
        tree = trees.parse(language, data) if tree is None else tree
        result = outline(language, data, tree=tree) if result is None else result
    except Exception:  # noqa: BLE001 - as `_extract` does, alone
        if before is not None:
            outlines.pop(before[0], None)
        return _extract(job)
    if kept is not None:
        kept.offer(key, data, tree)  # by blob and language: a tree is its grammar's
    return key, [[i.spec, list(i.symbols)] for i in result.imports], result


class _Reader:
    """One `git cat-file --batch` process kept open, answering object names."""

    def __init__(self, repo_root: str) -> None:
        self.process = subprocess.Popen(
            ["git", "-C", repo_root, "cat-file", "--batch"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, names: list[str]) -> list[tuple[str, bytes] | None]:
        """(sha, contents) of each object named, in order (None: missing or not a blob); the
        names are written a chunk at a time: a chunk fits the pipe's buffer, so writing it
        never waits for git, which may be waiting for its answers to be read."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        found: list[tuple[str, bytes] | None] = []
        lines, start = [name.encode() + b"\n" for name in names], 0
        while start < len(lines):
            end, size = start + 1, len(lines[start])
            while end < len(lines) and size + len(lines[end]) <= 16_384:
                size += len(lines[end])
                end += 1
            chunk, start = lines[start:end], end
            stdin.write(b"".join(chunk))
            stdin.flush()
            answers = _answers(stdout, len(chunk))
            if len(answers) < len(chunk):
                raise OSError("git cat-file stopped")
            found += answers
        return found

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process.wait()


def forget_reads() -> None:
    """Drop the blobs the last builds read that no `read_blobs` took (context searched with
    `git grep`, or read only the changed files): a plan is made."""
    _LAST_READ.clear()


_READERS: dict[str, _Reader] = {}  # repository root: its reader, within `held`
# Repository root: the blobs the last build read (sha: contents), served once each by
# `read_blobs`: a plan's context reads the same commit's sources next (the whole tree's, cold).
_LAST_READ: dict[str, dict[str, bytes]] = {}


# The on-disk cache.

@functools.lru_cache(maxsize=16)
def cache_folder(repo_root: str) -> Path | None:
    """`.git/cartriage/` of the repository (the common git folder for worktrees)."""
    try:
        git_dir = _git(repo_root, "rev-parse", "--git-common-dir").decode().strip()
    except OSError:
        return None
    return Path(repo_root, git_dir) / "cartriage"


def _cache_path(repo_root: str) -> Path | None:
    folder = cache_folder(repo_root)
    return folder / CACHE_FILE if folder else None


_LOADED: dict[Path, tuple[tuple[int, int] | None, dict]] = {}  # imports cache, per file


def _load(path: Path | None) -> dict:
    """The imports cache; kept in memory between builds (`plan --batch`) while the file is the
    one this process last read or wrote (or is still missing)."""
    if path is None:
        return {}
    try:
        stat = path.stat()
        signature = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        signature = None
    if path in _LOADED and _LOADED[path][0] == signature:
        return _LOADED[path][1]
    entries = {}
    try:
        data = json.loads(path.read_bytes()) if signature else {}
    except (OSError, ValueError):
        data = {}
    if isinstance(data, dict) and data.get("version") == CACHE_VERSION:
        entries = data.get("entries", {})
    _LOADED[path] = (signature, entries)
    return entries


def _save(path: Path | None, cache: dict, current: set[str]) -> None:
    """Write atomically; keep old revisions' entries unless they outgrow the current tree."""
    if path is None:
        return
    if len(cache) > 4 * max(len(current), 1000):
        cache = {k: v for k, v in cache.items() if k in current}
    write_bytes(path, json.dumps({"version": CACHE_VERSION, "entries": cache},
                                 separators=(",", ":")).encode("utf-8"))
    try:
        stat = path.stat()
    except OSError:
        return
    _LOADED[path] = ((stat.st_mtime_ns, stat.st_size), cache)


# Resolving imports to files.

def _family(lang: str) -> str:
    if lang in _EMBEDDED.values():
        return "js"
    return languages.get(lang).family


def _module_keys(path: str, lang: str) -> list[str]:
    if lang in _EMBEDDED.values():
        return [languages.strip_suffix(path)]
    return languages.get(lang).module.module_keys(path)


class Resolver:
    """Every file's imports joined to the files they name, updated file by file: a change
    re-resolves only the importers it edits and those whose lookups its added or removed files
    answer differently."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}  # path: language
        self.imports: dict[str, str] = {}  # path: imports as extracted, JSON (quick to load)
        self.table: dict[str, list[str]] = {}  # "family:module key": paths
        self.edges: dict[str, list[tuple[str, tuple[str, ...]]]] = {}  # importer: targets
        self.lookups: dict[str, set[str]] = {}  # importer: table keys it read
        self.readers: dict[str, set[str]] = {}  # table key: importers reading it
        self.importers: dict[str, set[str]] = {}  # target: importers
        self.symbols: dict[str, dict[str, set[str]]] = {}  # target: name: importers
        self.via: dict[str, set[str]] = {}  # target: importers through a package

    def update(self, files: dict[str, str | None], imports: dict[str, list]) -> None:
        """Set files (path: language, None to remove) and their imports (missing: none). A
        file kept with the same language and imports (most edits) is not resolved again."""
        stale: set[str] = set()
        for path, lang in files.items():
            old = self.files.get(path)
            if old != lang:
                for key in self._move(path, old, lang):
                    stale |= self.readers.get(key, set())
            if lang is None:
                self.files.pop(path, None)
                self.imports.pop(path, None)
                stale.add(path)
                continue
            found = json.dumps(imports.get(path, []))
            if old != lang or self.imports.get(path) != found:
                stale.add(path)
            self.files[path] = lang
            self.imports[path] = found
        touched: set[str] = set()
        for importer in stale:
            touched |= self._resolve(importer)
        for barrel in [t for t in touched if posixpath.basename(t) in _BARRELS]:
            touched.update(target for target, _ in self.edges.get(barrel, ()))
        asked: dict[tuple[str, str], set[str]] = {}
        for target in touched:
            via = self._through_packages(target, asked)
            if via:
                self.via[target] = via
            else:
                self.via.pop(target, None)

    def _move(self, path: str, old: str | None, new: str | None) -> set[str]:
        """Take `path` out of the table under `old`'s keys, put it in under `new`'s; the keys
        whose paths changed."""
        leaving, joining = _table_keys(path, old), _table_keys(path, new)
        for key in leaving - joining:
            paths = self.table[key]
            paths.remove(path)
            if not paths:
                del self.table[key]
        for key in joining - leaving:
            self.table.setdefault(key, []).append(path)
        return leaving ^ joining

    def _resolve(self, importer: str) -> set[str]:
        """Resolve one importer again; the targets it linked to before or links to now."""
        for key in self.lookups.pop(importer, ()):
            readers = self.readers[key]
            readers.discard(importer)
            if not readers:
                del self.readers[key]
        old = self.edges.pop(importer, [])
        for target, names in old:
            _unlink(self.importers, target, importer)
            table = self.symbols.get(target)
            for name in names if table is not None else ():
                _unlink(table, name, importer)
            if table == {}:
                del self.symbols[target]
        touched = {target for target, _ in old}
        found = json.loads(self.imports.get(importer, "[]"))
        if not found:
            return touched
        lookups: set[str] = set()
        edges = _edges(self.table, importer, self.files[importer], found, lookups)
        self.lookups[importer] = lookups
        for key in lookups:
            self.readers.setdefault(key, set()).add(importer)
        if edges:
            self.edges[importer] = edges
        for target, names in edges:
            touched.add(target)
            self.importers.setdefault(target, set()).add(importer)
            for name in names:
                if name != "*":
                    self.symbols.setdefault(target, {}).setdefault(name, set()).add(importer)
        return touched

    def _through_packages(self, target: str, asked: dict[tuple[str, str], set[str]]) -> set[str]:
        """Importers of a package (`__init__.py`, `index.ts`) that re-exports `target`, when
        they import all of it or a name it exports. `asked` keeps, per (importer, package), the
        names imported ("" for the whole package), for the next target."""
        direct = self.importers.get(target, set())
        via: set[str] = set()
        for barrel in direct:
            if posixpath.basename(barrel) not in _BARRELS:
                continue
            for module, names in self.edges.get(barrel, ()):
                if module != target:
                    continue
                exported = set(names)
                importers = self.importers.get(barrel, set()) - via - {target}
                if not exported or "*" in exported:
                    via |= importers
                    continue
                for importer in importers:
                    wanted = asked.get((importer, barrel))
                    if wanted is None:
                        wanted = asked[(importer, barrel)] = {
                            n for t, given in self.edges.get(importer, ()) if t == barrel
                            for n in (given or ("",))}
                    if "" in wanted or wanted & exported:
                        via.add(importer)
        return via - direct


def _table_keys(path: str, lang: str | None) -> set[str]:
    """The table keys a file answers: each of its module keys and their trailing parts."""
    if lang is None:
        return set()
    family, keys = _family(lang), set()
    for key in _module_keys(path, lang):
        parts = key.split("/")
        keys.update(f"{family}:{'/'.join(parts[i:])}" for i in range(len(parts)))
    return keys


def _unlink(table: dict[str, set[str]], key: str, importer: str) -> None:
    found = table.get(key)
    if found is not None:
        found.discard(importer)
        if not found:
            del table[key]


def _edges(table, importer: str, lang: str, found: list,
           lookups: set[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The files one importer's imports name, each with the names imported from it (a name
    resolved to a submodule is an edge of its own, with no names). The table keys read are
    added to `lookups`."""
    module = languages.get("typescript" if lang in _EMBEDDED.values() else lang).module
    family = _family(lang)
    separator = getattr(module, "SUBMODULE_SEPARATOR", None)
    edges: list[tuple[str, tuple[str, ...]]] = []
    for spec, names in found:
        names = tuple(names)
        if separator:
            plain = []
            for name in names:
                joined = spec + name if spec.endswith(".") else f"{spec}{separator}{name}"
                target = _first(table, family, module.import_keys(joined, importer), importer,
                               lookups)
                if target:
                    edges.extend((path, ()) for path in target)
                else:
                    plain.append(name)
            if names and not plain:
                continue
            names = tuple(plain)
        target = _first(table, family, module.import_keys(spec, importer), importer, lookups)
        edges.extend((path, names) for path in target or ())
    return edges


def _first(table, family: str, candidates: list[str], importer: str,
           lookups: set[str]) -> list[str] | None:
    for candidate in candidates:
        key = f"{family}:{candidate}"
        lookups.add(key)
        hits = [p for p in table.get(key, ()) if p != importer]
        if hits:
            return _nearest(hits, importer)
    return None


def _nearest(hits: list[str], importer: str) -> list[str] | None:
    if len(hits) == 1:
        return hits
    folders = {posixpath.dirname(h) for h in hits}
    if len(folders) == 1:  # a Go package or a namespace folder: all its files
        return hits
    here = importer.split("/")

    def shared(path: str) -> int:
        n = 0
        for a, b in zip(here, path.split("/"), strict=False):
            if a != b:
                break
            n += 1
        return n

    best = max(shared(h) for h in hits)
    chosen = [h for h in hits if shared(h) == best]
    return chosen if len(chosen) <= 3 else None
