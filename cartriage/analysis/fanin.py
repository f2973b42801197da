"""Fan-in: how many other files of the repository import a file, and which of its names.

Imports are extracted with tree-sitter from every source file at the change's new revision and
cached under `.git/cartriage/` keyed by blob hash (and language), so a second run parses only
the blobs it has not seen. The same parse gives each blob's definitions, kept in the outline
store (store.py) so that analysing a change does not parse its files again. Resolving imports
to files (module keys, relative paths, package re-exports) is cheap and done on every run.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import hashlib
import json
import os
import posixpath
import re
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from cartriage.analysis import languages, store
from cartriage.analysis.symbols import outline
from cartriage.intake.change import INDEX, WORKTREE

CACHE_VERSION = 2  # 2: blobs indexed since also have their outline in the store
CACHE_FILE = "imports-v2.json"
RESOLVED_FILE = "fan-in-v1.json"
PARALLEL_FROM = 200  # blobs to parse before worker processes are worth their start-up
_SCRIPT = re.compile(rb"<script[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_EMBEDDED = {".vue": "vue", ".svelte": "svelte"}
_BARRELS = ("__init__.py", "index.js", "index.ts", "index.tsx", "index.mjs", "index.jsx",
            "mod.rs", "lib.rs")


@dataclass
class Index:
    """Who imports whom at one revision. Paths are repository paths."""

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
        return len(self.importers.get(path, set()) | self.via_package.get(path, set()))

    def percentile(self, count: int) -> float:
        """Share of indexed files (in %) whose fan-in is lower than `count`."""
        if not self._sorted:
            self._sorted = sorted(self.fan_in(p) or 0 for p in self.files)
        return round(100.0 * bisect.bisect_left(self._sorted, count) / len(self._sorted), 1)

    def symbol_fan_in(self, path: str, name: str) -> int | None:
        """Files importing `name` (top-level) from `path`, when imports name their symbols."""
        table = self.symbols.get(path)
        if not table:
            return None
        return len(table.get(name.split(".")[0], ()))


def build(repo_root: str, rev: str, *, ignored: re.Pattern | None = None,
          max_bytes: int = 1_000_000, extra: dict[str, str] | None = None,
          workers: int = 2) -> Index:
    """The import index of the repository at `rev` (a sha, INDEX or WORKTREE).

    `ignored` matches paths left out (see `ignore_pattern`). The resolved index is cached for
    the exact tree, the extracted imports per blob.
    """
    started = time.perf_counter()
    # A commit's tree id names its listing: a warm run need not list (and hash) 3,000 paths.
    tree = named = None
    if rev in (INDEX, WORKTREE):
        tree = named = list_tree(repo_root, rev)
    else:
        named = _git(repo_root, "rev-parse", f"{rev}^{{tree}}").decode().strip()
    cache_path = _cache_path(repo_root)
    tree_key = hashlib.sha1(json.dumps([CACHE_VERSION, named, sorted((extra or {}).items()),
                                        max_bytes, ignored.pattern if ignored else None])
                            .encode()).hexdigest()
    resolved = _load_resolved(cache_path, tree_key)
    if resolved is not None:
        resolved.stats = {"files": len(resolved.files) - len(extra or {}), "parsed": 0,
                          "parsed_bytes": 0, "seconds": time.perf_counter() - started}
        return resolved
    if tree is None:
        tree = list_tree(repo_root, rev)
    entries = [(path, blob, lang) for path, blob, size in tree
               if (size is None or size <= max_bytes)
               and (lang := _language(path)) is not None
               and not (ignored and ignored.match(path))]
    cache = _load(cache_path)
    missing = {f"{blob}:{lang}": (blob, lang, path) for path, blob, lang in entries
               if f"{blob}:{lang}" not in cache}
    parsed_bytes = 0
    if missing:
        parsed_bytes = _extract_missing(repo_root, rev, missing, cache, workers,
                                        cache_path.parent if cache_path else None)
        _save(cache_path, cache, {f"{b}:{lang}" for _, b, lang in entries})
    files = {path: lang for path, _, lang in entries}
    imports = {path: cache.get(f"{blob}:{lang}", []) for path, blob, lang in entries}
    index = resolve(files, imports, extra or {})
    _save_resolved(cache_path, tree_key, index)
    index.stats = {"files": len(entries), "parsed": len(missing), "parsed_bytes": parsed_bytes,
                   "seconds": time.perf_counter() - started}
    return index


@functools.lru_cache(maxsize=65_536)  # a batch lists the same paths for every commit
def _language(path: str) -> str | None:
    return languages.detect(path) or _EMBEDDED.get(posixpath.splitext(path)[1].lower())


def ignore_pattern(globs: list[str]) -> re.Pattern | None:
    """One compiled regex for [ignore] globs, with config.glob_match's `**/` semantics."""
    variants = []
    for glob in globs:
        variants.append(glob)
        while glob.startswith("**/"):
            glob = glob[3:]
            variants.append(glob)
    if not variants:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(v)})" for v in variants))


def _load_resolved(cache_path: Path | None, key: str) -> Index | None:
    if cache_path is None:
        return None
    try:
        data = json.loads((cache_path.parent / RESOLVED_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    return Index(files=data["files"],
                 importers={k: set(v) for k, v in data["importers"].items()},
                 symbols={k: {n: set(v) for n, v in t.items()}
                          for k, t in data["symbols"].items()},
                 via_package={k: set(v) for k, v in data["via_package"].items()})


def _save_resolved(cache_path: Path | None, key: str, index: Index) -> None:
    if cache_path is None:
        return
    data = {"key": key, "files": index.files,
            "importers": {k: sorted(v) for k, v in index.importers.items()},
            "symbols": {k: {n: sorted(v) for n, v in t.items()} for k, t in index.symbols.items()},
            "via_package": {k: sorted(v) for k, v in index.via_package.items()}}
    write_json(cache_path.parent / RESOLVED_FILE, data)


def write_json(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only repository: everything still works, it is just not cached


# Listing and reading the repository.

def _git(repo_root: str, *args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["git", "-C", repo_root, "-c", "core.quotePath=false", *args],
                          input=data, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise OSError(message[0] if message else f"git {args[0]} failed")
    return done.stdout


def list_tree(repo_root: str, rev: str) -> list[tuple[str, str, int | None]]:
    """(path, blob sha, size if known) of every file at `rev`; WORKTREE hashes edited files."""
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
    """Blob contents through one `git cat-file --batch`."""
    if not shas:
        return {}
    data = _git(repo_root, "cat-file", "--batch", data="\n".join(shas).encode() + b"\n")
    blobs, position = {}, 0
    while position < len(data):
        end = data.index(b"\n", position)
        header = data[position:end].split()
        position = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        blobs[header[0].decode()] = data[position:position + size]
        position += size + 1
    return blobs


def _extract_missing(repo_root: str, rev: str, missing: dict, cache: dict, workers: int,
                     folder: Path | None = None) -> int:
    by_sha = read_blobs(repo_root, sorted({blob for blob, _, _ in missing.values()}))
    if rev == WORKTREE:
        for blob, _, path in missing.values():
            if blob not in by_sha and os.path.isfile(os.path.join(repo_root, path)):
                by_sha[blob] = Path(repo_root, path).read_bytes()
    jobs = [(key, lang, by_sha[blob]) for key, (blob, lang, _) in missing.items()
            if blob in by_sha]
    total = sum(len(data) for _, _, data in jobs)
    outlines: dict[str, str] = {}
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        import multiprocessing

        jobs.sort(key=lambda job: -len(job[2]))  # big files first: even the workers' load
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.imap_unordered(_extract, jobs, chunksize=8)
            _collect(results, cache, outlines)
    else:
        _collect(map(_extract, jobs), cache, outlines)
    if outlines and folder is not None:
        db = store.connect(folder)
        store.put(db, outlines)
        if db is not None:
            db.close()
    return total


def _collect(results, cache: dict, outlines: dict[str, str]) -> None:
    for key, imports, encoded in results:
        cache[key] = imports
        if encoded is not None:
            outlines[key] = encoded


def _extract(job: tuple[str, str, bytes]) -> tuple[str, list, str | None]:
    """Imports of one blob for the index, and its whole outline (encoded) for the store."""
    key, lang, data = job
    embedded = lang in ("vue", "svelte")
    if embedded:
        data, lang = b"\n".join(_SCRIPT.findall(data)), "typescript"
    language = languages.get(lang)
    try:
        result = outline(language, data)
    except Exception:  # noqa: BLE001 - a grammar failure must not stop the index
        return key, [], None
    imports = [[i.spec, list(i.symbols)] for i in result.imports]
    return key, imports, None if embedded else store.encode(result)


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


_LOADED: dict[Path, tuple[tuple[int, int], dict]] = {}  # the imports cache, per file, read once


def _load(path: Path | None) -> dict:
    """The imports cache; kept in memory between builds (`plan --batch`) while the file is the
    one this process last read or wrote."""
    if path is None:
        return {}
    try:
        stat = path.stat()
    except OSError:
        return {}
    signature = (stat.st_mtime_ns, stat.st_size)
    if path in _LOADED and _LOADED[path][0] == signature:
        return _LOADED[path][1]
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("entries", {})
    _LOADED[path] = (signature, entries)
    return entries


def _save(path: Path | None, cache: dict, current: set[str]) -> None:
    """Write atomically; keep old revisions' entries unless they outgrow the current tree."""
    if path is None:
        return
    if len(cache) > 4 * max(len(current), 1000):
        cache = {k: v for k, v in cache.items() if k in current}
    write_json(path, {"version": CACHE_VERSION, "entries": cache})
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


@dataclass
class _Resolved:
    """The last resolution, reused while the set of files is the same (`plan --batch` walks
    commits that mostly edit files): each importer's edges, by its imports as extracted."""

    files: dict[str, str] = field(default_factory=dict)
    table: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    edges: dict[str, tuple[list, list[tuple[str, tuple[str, ...]]]]] = field(default_factory=dict)


_LAST = _Resolved()


def resolve(files: dict[str, str], imports: dict[str, list], extra: dict[str, str]) -> Index:
    """Join every file's imports to the files they name."""
    everything = {**files, **extra}
    if everything != _LAST.files:
        _LAST.files, _LAST.table, _LAST.edges = everything, _table(everything), {}
    index = Index(files=everything)
    importers: dict[str, set[str]] = defaultdict(set)
    symbols: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    edges: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for importer, found in imports.items():
        known = _LAST.edges.get(importer)
        if known is None or known[0] != found:
            known = (found, _edges(_LAST.table, importer, files[importer], found))
            _LAST.edges[importer] = known
        if known[1]:
            edges[importer] = known[1]
        for path, names in known[1]:
            importers[path].add(importer)
            for name in names:
                if name != "*":
                    symbols[path][name].add(importer)
    index.importers = dict(importers)
    index.symbols = {k: dict(v) for k, v in symbols.items()}
    index.via_package = _through_packages(edges, importers)
    return index


def _table(files: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    """Module keys (and their suffixes) to the files that define them, per language family."""
    table: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path, lang in files.items():
        family = _family(lang)
        for key in _module_keys(path, lang):
            parts = key.split("/")
            for i in range(len(parts)):
                table[(family, "/".join(parts[i:]))].append(path)
    return table


def _edges(table, importer: str, lang: str, found: list) -> list[tuple[str, tuple[str, ...]]]:
    """The files one importer's imports name, each with the names imported from it (a name
    resolved to a submodule is an edge of its own, with no names)."""
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
                target = _first(table, family, module.import_keys(joined, importer), importer)
                if target:
                    edges.extend((path, ()) for path in target)
                else:
                    plain.append(name)
            if names and not plain:
                continue
            names = tuple(plain)
        target = _first(table, family, module.import_keys(spec, importer), importer)
        edges.extend((path, names) for path in target or ())
    return edges


def _first(table, family: str, candidates: list[str], importer: str) -> list[str] | None:
    for candidate in candidates:
        hits = [p for p in table.get((family, candidate), ()) if p != importer]
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


def _through_packages(edges, importers) -> dict[str, set[str]]:
    """Importers of a package (`__init__.py`, `index.ts`) reach what it re-exports."""
    via: dict[str, set[str]] = defaultdict(set)
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for importer, targets in edges.items():
        for target, names in targets:
            wanted[(importer, target)].update(names or ("",))
    for barrel, targets in edges.items():
        if posixpath.basename(barrel) not in _BARRELS:
            continue
        for module, names in targets:
            exported = set(names)
            for importer in importers.get(barrel, ()):
                if importer == module:
                    continue
                asked = wanted.get((importer, barrel), {""})
                if "" in asked or "*" in exported or not exported or asked & exported:
                    via[module].add(importer)
    return {k: v - importers.get(k, set()) for k, v in via.items()}
