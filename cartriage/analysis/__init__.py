"""Analysis: what a change touches (roles, symbols, fan-in, public API) and the review units.

`analyze(change, config)` turns the intake's ChangeSet into an Analysis (see facts.py). Files
are parsed with tree-sitter through the language modules in `languages/`; roles come from the
patterns in `roles.toml` plus `[[rules]]`; fan-in from the import index in `fanin.py`. Anything
that cannot be parsed degrades to path-based roles with a note: analysis never fails a run.
"""

from __future__ import annotations

import os
from dataclasses import replace
from itertools import compress
from operator import methodcaller
from typing import TYPE_CHECKING

from cartriage.analysis.facts import Analysis, FileFacts, RoleHit, Symbol, Unit
from cartriage.intake.change import WORKTREE, ChangeSet, FileChange, Hunk

if TYPE_CHECKING:
    from cartriage.analysis import roles
    from cartriage.config import Config

__all__ = ["Analysis", "FileFacts", "analyze", "file_summary", "minified", "unit_hunks",
           "units_for"]

MAX_SYMBOLS = 200  # per file: a deleted 5,000-line module need not list every function
HEAD_BYTES = 4_096  # of a parsed file, role patterns read the head and the changed lines
TEXT_BYTES = 65_536  # of a file known by role only (SQL, YAML), they read this much
NO_REPOSITORY = "no repository: analysed from the diff alone (symbols from hunks, no fan-in)"


def analyze(change: ChangeSet, config: Config) -> Analysis:
    """Facts for every reviewed file of `change`, and its review units."""
    from cartriage.analysis import fanin, store

    files = [f for f in change.files if not config.ignored(f.path)]
    notes: list[str] = []
    index = None
    blobs = _blobs(change, files) if change.repo_root else {}
    if change.repo_root is None:
        if files:
            notes.append(NO_REPOSITORY)
    elif files and config.get("analysis", "fan_in") and change.new_rev:
        index = _index(change, files, config, notes, blobs)
    max_bytes = config.get("analysis", "max_file_bytes")
    contents = _contents(change, files, blobs) if change.repo_root else {}
    db = store.connect(fanin.cache_folder(change.repo_root)) if change.repo_root else None
    worktree = change.new_rev == WORKTREE
    cache = store.get(db, _outline_keys(files, worktree)) if db is not None else None
    size = len(cache) if cache is not None else 0
    facts = tuple(_file_facts(f, contents.get(f.path, (None, None)), index, config, max_bytes,
                              change.repo_root is not None, cache, worktree)
                  for f in files)
    if db is not None:
        if cache is not None and len(cache) != size:
            store.save(db, dict(list(cache.items())[size:]))
        db.close()
    limit = config.get("analysis", "unit_max_lines")
    units = tuple(u for f in files for u in units_for(f, limit))
    return Analysis(files=facts, units=units,
                    indexed_files=len(index.files) if index is not None else None,
                    notes=tuple(notes))


def units_for(file: FileChange, limit: int) -> list[Unit]:
    """One unit per file, or groups of hunks of at most `limit` changed lines each.

    A hunk with more than `limit` changed lines (a new 50,000-line file is one hunk) is cut
    into slices of its lines, one unit each, so that every unit fits what a strategy can send.
    """
    if file.binary or file.submodule:
        what = "binary file" if file.binary else "submodule pointer"
        return [Unit(file.path, file.path, (), 0, 0, skip_reason=f"{what}: no text to review")]
    if not file.hunks:
        return [Unit(file.path, file.path, (), 0, 0,
                     skip_reason=f"{file.status}, no changed lines: nothing to review")]
    if file.added + file.removed <= limit:
        return [Unit(file.path, file.path, tuple(range(len(file.hunks))), file.added,
                     file.removed)]
    pieces = []  # (hunk indexes, line slice or None, changed lines)
    for i, hunk in enumerate(file.hunks):
        marks = _marks(hunk)
        size = len(marks) - marks.count(" ") - marks.count("\\")
        if size <= limit:
            pieces.append(([i], None, size))
            continue
        changed = [n for n, mark in enumerate(marks) if mark in "+-"]
        for start in range(0, len(changed), limit):
            first = 0 if start == 0 else changed[start]
            end = len(hunk.lines) if start + limit >= len(changed) else changed[start + limit]
            pieces.append(([i], (first, end), min(limit, len(changed) - start)))
    groups: list[tuple[list[int], tuple[int, int] | None, int]] = []
    for hunks, lines, size in pieces:
        last = groups[-1] if groups else None
        if (last is not None and lines is None and last[1] is None
                and last[2] + size <= limit):
            groups[-1] = (last[0] + hunks, None, last[2] + size)
        else:
            groups.append((hunks, lines, size))
    units = []
    for n, (group, lines, _) in enumerate(groups, start=1):
        hunks = unit_hunks(file, Unit("", file.path, tuple(group), 0, 0, lines))
        added = sum(_count(h.lines, "+") for h in hunks)
        removed = sum(_count(h.lines, "-") for h in hunks)
        unit_id = file.path if n == 1 else f"{file.path}#{n}"
        units.append(Unit(unit_id, file.path, tuple(group), added, removed, lines))
    return units


def unit_hunks(file: FileChange | None, unit: Unit) -> tuple[Hunk, ...]:
    """The hunks a unit covers, as valid hunks (a slice of one hunk gets its own header)."""
    if file is None:
        return ()
    if not unit.hunks:
        return file.hunks
    hunks = tuple(file.hunks[i] for i in unit.hunks if 0 <= i < len(file.hunks))
    if unit.lines is None or len(hunks) != 1:
        return hunks
    hunk, (start, end) = hunks[0], unit.lines
    marks = _marks(hunk)  # counted in C: a 50,000-line hunk is sliced into many units
    before, inside = marks[:start], marks[start:end]
    return (replace(hunk, old_start=hunk.old_start + before.count(" ") + before.count("-"),
                    new_start=hunk.new_start + before.count(" ") + before.count("+"),
                    lines=hunk.lines[start:end],
                    old_count=inside.count(" ") + inside.count("-"),
                    new_count=inside.count(" ") + inside.count("+")),)


_MARKS: dict[int, tuple[Hunk, str]] = {}  # by the hunk's id (held: the id is not reused)


def _marks(hunk: Hunk) -> str:
    """Each line's diff prefix as one character ('+', '-', ' ', '\\'); an empty line counts
    on both sides, as a context line. Kept for the last 64 hunks by identity: hashing a
    hunk hashes its lines, as long as counting them."""
    found = _MARKS.get(id(hunk))
    if found is None or found[0] is not hunk:
        if len(_MARKS) >= 64:
            _MARKS.clear()
        found = _MARKS[id(hunk)] = (hunk, "".join(line[:1] or " " for line in hunk.lines))
    return found[1]


def _count(lines: tuple[str, ...], mark: str) -> int:
    """How many diff lines start with `mark` (counted without a Python loop per line)."""
    return sum(map(methodcaller("startswith", mark), lines))


def file_summary(facts: FileFacts) -> dict[str, object]:
    """A flat, stable view of one file's facts (for model features and scripts)."""
    return {
        "path": facts.path,
        "language": facts.language,
        "roles": list(facts.role_names),
        "parsed": facts.parsed,
        "fan_in": facts.fan_in,
        "fan_in_percentile": facts.fan_in_percentile,
        "symbols": len(facts.symbols),
        "public_symbols": sum(s.public for s in facts.symbols),
        "symbols_added": sum(s.change == "added" for s in facts.symbols),
        "symbols_removed": sum(s.change == "removed" for s in facts.symbols),
        "signature_changed": facts.signature_changed,
        "public_api_changed": facts.public_api_changed,
        "symbol_kinds": list(facts.symbol_kinds),
    }


# Reading the files.

def _index(change: ChangeSet, files: list[FileChange], config: Config, notes: list[str],
           blobs: dict[str, bytes]):
    from cartriage.analysis import fanin, languages

    extra = {}
    for f in files:
        lang = languages.detect(f.old_path or f.path)
        if f.status == "deleted" and lang:
            extra[f.old_path or f.path] = lang
    try:
        globs = config.get("ignore", "paths") + config.get("ignore", "extra")
        index = fanin.build(change.repo_root, change.new_rev,
                            ignored=fanin.ignore_pattern(globs),
                            max_bytes=config.get("analysis", "max_file_bytes"), extra=extra,
                            workers=min(2, os.cpu_count() or 1),
                            base=_base(change), blobs=blobs,
                            outlined=frozenset(_outline_keys(files, change.new_rev == WORKTREE)))
    except Exception as exc:  # noqa: BLE001 - no fan-in is a note, never a failed run
        notes.append(f"fan-in not measured: {exc or type(exc).__name__}")
        return None
    notes.append(f"fan-in from {index.stats['files']} source files at {_rev(change.new_rev)}"
                 f" ({index.stats['parsed']} parsed, the rest cached)")
    return index


def _base(change: ChangeSet) -> tuple[str, tuple[FileChange, ...]] | None:
    """The parent and the files to update its fan-in index with, when the change's files and
    its ignored paths (which the index leaves out too) are all the differences: not when an
    ignored file was renamed from a path the index may hold."""
    return ((change.old_rev, change.files)
            if change.old_rev and not change.ignored_renamed_from else None)


def _outline_keys(files: list[FileChange], worktree: bool) -> list[str]:
    """Store keys ("blob:language") of the versions `_outline` may look up."""
    from cartriage.analysis import languages

    keys = []
    for f in files:
        lang = languages.detect(f.path)
        if lang is None or f.binary or f.submodule:
            continue
        if f.status != "added" and f.old_blob:
            keys.append(f"{f.old_blob}:{lang}")
        if f.status != "deleted" and f.new_blob and not worktree:
            keys.append(f"{f.new_blob}:{lang}")
    return keys


def _rev(rev: str) -> str:
    return rev if rev in ("INDEX", WORKTREE) else rev[:12]


def _blobs(change: ChangeSet, files: list[FileChange]) -> dict[str, bytes]:
    """The contents of the changed files' blobs (both sides), through one `git cat-file`; the
    fan-in index and the facts both read them."""
    from cartriage.analysis import fanin

    wanted = {}
    for f in files:
        if f.binary or f.submodule:
            continue
        if f.status != "added" and f.old_blob:
            wanted[f.old_blob] = None
        if f.status != "deleted" and f.new_blob and change.new_rev != WORKTREE:
            wanted[f.new_blob] = None
    try:
        return fanin.read_blobs(change.repo_root, [b for b in wanted if len(b) == 40])
    except OSError:
        return {}


def _contents(change: ChangeSet, files: list[FileChange], blobs: dict[str, bytes]):
    """(old, new) bytes per path; None where a side does not exist or cannot be read."""

    def side(f: FileChange, which: str) -> bytes | None:
        blob = f.old_blob if which == "old" else f.new_blob
        if which == "new" and change.new_rev == WORKTREE:
            blob = None  # the file on disk, not the index's blob
        return blobs[blob] if blob in blobs else _read(change, f, which)

    return {f.path: (None if f.status == "added" else side(f, "old"),
                     None if f.status == "deleted" else side(f, "new"))
            for f in files if not (f.binary or f.submodule)}


def _read(change: ChangeSet, file: FileChange, side: str) -> bytes | None:
    from cartriage import intake

    try:
        return intake.read_blob(change, file.path, side)
    except Exception:  # noqa: BLE001 - unreadable contents degrade to diff-only facts
        return None


# Facts of one file.

def _file_facts(file: FileChange, sides, index, config: Config, max_bytes: int,
                has_repo: bool, cache: dict | None = None, worktree: bool = False) -> FileFacts:
    from cartriage.analysis import languages, roles

    old, new = sides
    path = file.path
    lang = languages.detect(path)
    name = lang or languages.recognise(path) or file.language
    notes: list[str] = []
    symbols: list[Symbol] = []
    imports: list[str] = []
    parsed = False
    too_big = max((len(b) for b in (old, new) if b is not None), default=0) > max_bytes
    if file.binary:
        notes.append("binary file: roles from its path only")
    elif file.submodule:
        notes.append("submodule bump: roles from its path only")
    elif too_big:
        notes.append(f"over {max_bytes:,} bytes ([analysis] max_file_bytes): roles from its path "
                     "only")
        old = new = None
    elif lang is not None and minified(new or old):
        notes.append("looks minified or generated (very long lines): roles from its path only")
    elif lang is not None:
        try:
            symbols, imports, parsed = _symbols(file, lang, old, new, has_repo, notes, cache,
                                                worktree)
        except Exception as exc:  # noqa: BLE001 - a grammar failure must not stop the run
            notes.append(f"could not parse ({type(exc).__name__}): roles from its path only")
    elif name is None:
        notes.append("unrecognised file type: roles from its path only")
    else:
        notes.append(f"{name}: recognised by role, no symbol analysis")
    content = None if file.binary or too_big else _content(file, old, new, imports, parsed)
    hits = roles.detect(path, name, content)
    fan_in = percentile = None
    importers: tuple[str, ...] = ()
    if index is not None:
        target = file.old_path if file.status == "deleted" and file.old_path else path
        fan_in = index.fan_in(target)
        if fan_in is not None:
            percentile = index.percentile(fan_in)
            found = index.importers.get(target, set()) | index.via_package.get(target, set())
            importers = tuple(sorted(found)[:5])
            if index.symbols.get(target):  # else no symbol's fan-in is known: all stay None
                symbols = [replace(s, fan_in=index.symbol_fan_in(target, s.name)) if s.public
                           else s for s in symbols]
            hits += _core(fan_in, percentile, len(index.files), file.status)
    hits += _public_api(symbols, hits)
    hits = roles.from_rules(path, hits, config.rules)
    if len(symbols) > MAX_SYMBOLS:
        notes.append(f"{len(symbols)} symbols changed: the first {MAX_SYMBOLS} are listed")
        symbols = symbols[:MAX_SYMBOLS]
    return FileFacts(path=path, language=name, roles=tuple(hits), symbols=tuple(symbols),
                     fan_in=fan_in, fan_in_percentile=percentile, parsed=parsed,
                     notes=tuple(notes), importers=importers)


def minified(data: bytes | None) -> bool:
    """Whether a source file looks minified or generated (long, with very long lines): its
    definitions are neither parsed for facts nor shown as context."""
    if not data or len(data) < 20_000:
        return False
    return len(data) / (data.count(b"\n") + 1) > 500


def _outline(language, data: bytes | None, blob: str | None, cache: dict | None):
    """Outline of one version, from the on-disk cache when its blob was seen before."""
    from cartriage.analysis.symbols import outline

    if data is None:
        return None
    key = f"{blob}:{language.name}" if blob and cache is not None else None
    if key and key in cache:
        return cache[key]
    result = outline(language, data)
    if key:
        cache[key] = result
    return result


def _symbols(file: FileChange, lang: str, old, new, has_repo: bool, notes: list[str],
             cache: dict | None = None, worktree: bool = False):
    from cartriage.analysis import languages
    from cartriage.analysis.symbols import changed_symbols, fragment_symbols

    language = languages.get(lang)
    full = (old is not None or file.status == "added") and (
        new is not None or file.status == "deleted")
    if full:
        old_outline = _outline(language, old, file.old_blob, cache)
        new_outline = _outline(language, new, file.new_blob if not worktree else None, cache)
        symbols = changed_symbols(file, old_outline, new_outline)
        current = new_outline or old_outline
        imports = _import_names(current.imports) if current else []
        if any(o is not None and o.syntax_error for o in (old_outline, new_outline)):
            notes.append("syntax errors: symbols may be incomplete")
        if file.status == "deleted":
            notes.append("deleted: analysed from the old version")
        return symbols, imports, True
    symbols, found, errors = fragment_symbols(language, file)
    if errors and file.status == "added":  # the hunk is the whole file: the errors are real
        notes.append("syntax errors: symbols may be incomplete")
    if has_repo:
        notes.append("file contents unavailable: symbols from the hunks alone")
    return symbols, _import_names(found), True


def _import_names(imports) -> list[str]:
    """Module names for role patterns: `from django.db import models` -> django.db.models."""
    names = []
    for i in imports:
        names.append(i.spec)
        names += [f"{i.spec}.{s}" for s in i.symbols if s != "*" and not i.spec.endswith(".")]
    return names


def _content(file: FileChange, old: bytes | None, new: bytes | None,
             imports: list[str], parsed: bool) -> roles.Content:
    """What role patterns search: the file's head (markers, headers), the changed lines, and
    for files not parsed as code (SQL, YAML, ...) their text up to TEXT_BYTES."""
    from cartriage.analysis import roles

    segments = []
    current = new if new is not None else old
    if current is not None:
        limit = HEAD_BYTES if parsed else TEXT_BYTES
        segments.append((current[:limit].decode("utf-8", errors="replace"), 1, "line"))
    for hunk in file.hunks:
        segments += _changed_segments(hunk)
    return roles.Content(imports=tuple(imports), segments=tuple(segments))


def _changed_segments(hunk: Hunk) -> list[tuple[str, None, str]]:
    """The added, then the removed lines of a hunk as role pattern segments, labelled with the
    first one's line number (`Hunk.added()` and `removed()` would number every line: 0.5 s of
    a 145,000-line range's analysis)."""
    out = []
    marks = _marks(hunk)
    for side, mark, start in (("added", "+", hunk.new_start), ("removed", "-", hunk.old_start)):
        first = marks.find(mark)
        if first >= 0:
            # the lines joined, then each one's mark dropped: a line holds no newline, so
            # every "\n" + mark is a line's start (no Python step per line)
            joined = "\n".join(compress(hunk.lines, map(mark.__eq__, marks)))
            text = ("\n" + joined).replace("\n" + mark, "\n")[1:]
            out.append((text, None, f"{side} lines near line {start + marks.count(' ', 0, first)}"))
    return out


def _core(fan_in: int, percentile: float, indexed: int, status: str) -> list[RoleHit]:
    from cartriage.analysis import roles

    catalogue = roles.catalogue()
    if fan_in >= catalogue.core_min_fan_in and percentile >= catalogue.core_percentile:
        where = "files still importing it" if status == "deleted" else "other files"
        return [RoleHit("core", f"imported by {fan_in} {where} (fan-in above {percentile:g}% "
                                f"of {indexed} indexed files)")]
    return []


def _public_api(symbols: list[Symbol], hits: list[RoleHit]) -> list[RoleHit]:
    if any(h.role in ("tests", "docs", "generated", "vendored") for h in hits):
        return []
    for s in symbols:
        if s.public and s.signature_changed:
            return [RoleHit("public-api", f"public {s.kind} {s.name}: signature changed")]
        if s.public and s.change == "removed" and s.kind != "container":
            return [RoleHit("public-api", f"public {s.kind} {s.name} removed")]
    return []
