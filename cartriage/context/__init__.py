"""Context: what a review sees of the repository beyond the changed hunks, by level.

- `hunks`: nothing more (the diff already carries 3 lines around each change);
- `function`: the enclosing function or class of each changed line, from the NEW file (the old
  file with the change's hunks applied, so an edited diff is what is shown), parsed with
  tree-sitter;
- `callers`: that, plus the definitions of the functions the changed lines call (the same file
  first, then the repository at the new revision) and the call sites of the symbols whose
  signature the change changes (files that import the changed file, as the fan-in index found
  them, first).

Contract: `build(change, analysis, unit, level) -> Context`. A level whose text is over
`MAX_TOKENS` falls back to a smaller one (`Context.note` says why); files that may hold secrets
are never read. The same function prices a plan and builds the prompt, so they agree. The text
is not redacted here: the review stage redacts it like the diff.
"""

from __future__ import annotations

import bisect
import itertools
import keyword
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cartriage.context import sources
from cartriage.review.redact import is_secret_file
from cartriage.strategies import CONTEXT_LEVELS

if TYPE_CHECKING:
    from cartriage.analysis.facts import Analysis, FileFacts, Unit
    from cartriage.analysis.symbols import Definition
    from cartriage.intake.change import ChangeSet, FileChange, Hunk

MAX_TOKENS = 3_000  # of context per call; a larger level falls back to a smaller one
MAX_CALLEES = 5  # definitions of called functions shown
MAX_CALL_SITES = 8  # call sites of a changed signature shown
MAX_DEFINITION_LINES = 60  # of one called function's definition
MAX_FILE_BYTES = 1_000_000  # a larger new file is not parsed for context (as in analysis)
CHARS_PER_TOKEN = 3  # conservative for code (tokenizers average 3.5-4 characters)
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_NOT_CALLS = frozenset(keyword.kwlist) | {
    "if", "for", "while", "switch", "catch", "return", "function", "func", "fn", "new", "sizeof",
    "typeof", "super", "self", "this", "print", "len", "str", "int", "float", "bool", "list",
    "dict", "set", "tuple", "range", "isinstance", "elif", "defined", "require", "import"}


@dataclass(frozen=True)
class Context:
    """The context of one unit at `level` (the level built, which may be smaller than asked)."""

    level: str
    text: str = ""
    note: str = ""  # why a smaller level than asked was built

    @property
    def tokens(self) -> int:
        return tokens(self.text)


def tokens(text: str) -> int:
    """A conservative token estimate of context text (no tokenizer in planning)."""
    return -(-len(text.encode("utf-8")) // CHARS_PER_TOKEN) if text else 0


def build(change: ChangeSet, analysis: Analysis, unit: Unit, level: str,
          max_tokens: int = MAX_TOKENS, files: dict | None = None) -> Context:
    """The unit's context at `level`, or at the largest smaller level that fits `max_tokens`.
    `files` keeps work across calls (units of one file, levels): each new file read and parsed
    once, under its path, each unit's changed lines and enclosing definitions, under (unit
    id, "changed") and (unit id, "enclosing"), each `git grep` under ("grep", mode, name), each
    search of the sources under ("naming", name, limit) and ("lines using", name), each other
    file read, under ("source", path), with its definitions once parsed, under ("defined",
    path), and whether it is minified, under ("minified", path), and the definition of a
    called name found in them under ("defined in", name)."""
    if level not in CONTEXT_LEVELS:
        raise ValueError(f"unknown context level {level!r}")
    if level == "hunks":
        return Context("hunks")
    files = {} if files is None else files
    source = _Source.read(change, analysis, unit, files)
    if source.why_not:
        return Context("hunks", note=f"{level} context not built: {source.why_not}")
    def enclosing():
        shown = source.enclosing()
        return shown, "\n\n".join(source.render(d) for d in shown)

    shown, function = _kept(files, (unit.id, "enclosing"), enclosing)
    if tokens(function) > max_tokens:
        return Context("hunks", note=f"{level} context over {max_tokens:,} tokens "
                       f"({tokens(function):,}): hunks only")
    if level == "function" or not function and not source.calls() and not source.changed_api():
        return Context(level, function)
    parts, left_out = [function] if function else [], []
    for title, body in source.callers(shown):
        piece = f"{title}\n{body}"
        if tokens("\n\n".join([*parts, piece])) <= max_tokens:
            parts.append(piece)
        else:
            left_out.append(title)
    note = (f"left out over {max_tokens:,} tokens: {'; '.join(left_out)}" if left_out else "")
    return Context("callers", "\n\n".join(parts), note)


@dataclass
class _Source:
    """The unit's new file, its definitions and the changed lines."""

    change: ChangeSet
    unit: Unit
    facts: FileFacts | None = None
    lines: list[str] | None = None
    definitions: list[Definition] | None = None
    changed: tuple[int, ...] = ()
    added: tuple[str, ...] = ()
    language: str | None = None
    why_not: str = ""
    starts: list[int] = field(default_factory=list)  # of `definitions`, sorted by start
    reach: list[int] = field(default_factory=list)  # the largest end up to each of them
    shared: dict = field(default_factory=dict)  # `build`'s `files`: greps and other files too

    @classmethod
    def read(cls, change: ChangeSet, analysis: Analysis, unit: Unit,
             files: dict) -> _Source:
        from cartriage.analysis import unit_hunks

        changed, facts = _kept(files, ("by path",),  # the change's files and their facts
                               lambda: (_by_path(change.files), _by_path(analysis.files)))
        file = changed.get(unit.path)
        parsed = _kept(files, unit.path, lambda: cls._parse(change, file, unit, files))
        source = cls(change, unit, facts.get(unit.path), parsed.lines, parsed.definitions,
                     language=parsed.language, why_not=parsed.why_not, starts=parsed.starts,
                     reach=parsed.reach, shared=files)
        if source.why_not:
            return source
        source.changed, source.added = _kept(  # one unit, several levels
            files, (unit.id, "changed"), lambda: _changed_lines(unit_hunks(file, unit)))
        return source

    @classmethod
    def _parse(cls, change: ChangeSet, file, unit: Unit, files: dict) -> _Source:
        """The new file's lines and definitions (sorted by start), or why there are none. The
        definitions come from the analysis outline store when the new file is the new blob
        analysed (it usually is: `apply` rebuilds it from the diff)."""
        from cartriage.analysis import languages
        from cartriage.analysis.symbols import outline

        source = cls(change, unit)
        source.language = languages.detect(unit.path)
        if change.repo_root is None:
            source.why_not = "no repository (a patch alone)"
        elif file is None or file.status == "deleted" or file.binary or file.submodule:
            source.why_not = "no new file"
        elif source.language is None:
            source.why_not = "no tree-sitter grammar for the file"
        elif is_secret_file(unit.path):
            source.why_not = "the file may hold secrets"
        if source.why_not:
            return source
        old_blobs = _kept(files, ("old",), lambda: _old_blobs(change))  # one `git cat-file`
        source.lines = new_lines(change, file, old_blobs)
        if source.lines is None:
            source.why_not = "the new file could not be read"
            return source
        text = "\n".join(source.lines)
        if len(text) + 1 > MAX_FILE_BYTES:  # characters, each line with its newline
            source.why_not = f"the new file is over {MAX_FILE_BYTES:,} bytes"
            return source
        data = text.encode("utf-8", "surrogateescape")
        try:
            parsed = _stored(change, file, data, source.language, files) or outline(
                languages.get(source.language), data, imports=False)
        except Exception as exc:  # noqa: BLE001 - a grammar failure means no context, not a stop
            source.why_not = f"the new file could not be parsed ({type(exc).__name__})"
            return source
        source.definitions = sorted(parsed.definitions, key=lambda d: (d.start, -d.end))
        source.starts = [d.start for d in source.definitions]
        source.reach = list(itertools.accumulate((d.end for d in source.definitions), max))
        return source

    def enclosing(self) -> list[Definition]:
        """The innermost definition around each changed line, in file order, once each.

        Definitions nest, sorted by start: walk back from the last one starting at or before
        the line, while any earlier one may still reach it (`reach`, the running maximum end);
        the first that contains the line is the innermost, bar others with the same start."""
        definitions, starts, reach = self.definitions or [], self.starts, self.reach
        found = {}
        for line in self.changed:
            inner = None
            i = bisect.bisect_right(starts, line) - 1
            while i >= 0 and reach[i] >= line:
                here = definitions[i]
                if inner is not None and here.start < inner.start:
                    break
                if here.end >= line and (inner is None or here.end - here.start
                                         < inner.end - inner.start):
                    inner = here
                i -= 1
            if inner is not None:
                found[(inner.start, inner.end)] = inner
        return [found[k] for k in sorted(found)]

    def render(self, definition: Definition, limit: int | None = None) -> str:
        return _render(self.unit.path, self.lines, definition, limit)

    def calls(self) -> list[str]:
        """Names the added lines call, in order of first appearance."""
        names = dict.fromkeys(m.group(1) for text in self.added for m in _CALL.finditer(text))
        return [n for n in names if n not in _NOT_CALLS]

    def changed_api(self) -> list[str]:
        """Names of the symbols whose signature the change changes (analysis facts)."""
        if self.facts is None:
            return []
        return [s.name for s in self.facts.symbols
                if s.signature_changed and s.change != "removed"]

    def callers(self, shown: list[Definition]) -> list[tuple[str, str]]:
        """(title, text) of the definitions the change calls, then of the call sites of the
        symbols whose signature it changes."""
        out = []
        known = {d.name.rsplit(".", 1)[-1] for d in shown}
        for name in [n for n in self.calls() if n not in known][:MAX_CALLEES]:
            found = self._definition(name)
            if found is not None:
                out.append(found)
        for name in self.changed_api():
            sites = self._call_sites(name.rsplit(".", 1)[-1])
            if sites:
                out.append((f"# call sites of {name} (its signature changes)",
                            "\n".join(sites)))
        return out

    def _definition(self, name: str) -> tuple[str, str] | None:
        """`name`'s definition: in the file itself, else in the first of the repository's
        source files (at the new revision, in path order, at most 20; minified ones left out)
        that defines it. The latter is looked for once per plan (units call the same names)."""
        mine = _named(self.definitions or [], name)
        if mine is not None:
            return _title(self.render(mine, MAX_DEFINITION_LINES))
        found = _kept(self.shared, ("defined in", name),
                      lambda: self._defined_elsewhere(name, None))
        if found is not None and found[0] == self.unit.path:  # not shown as from elsewhere
            found = self._defined_elsewhere(name, self.unit.path)
        return None if found is None else found[1]

    def _defined_elsewhere(self, name: str, skipped: str | None
                           ) -> tuple[str, tuple[str, str]] | None:
        """(path, (title, text)) of `name`'s definition in the first of the first 20 source
        files using it (but `skipped`) that defines it."""
        candidates = [path for path in self._naming(name, 20)
                      if path != skipped and not is_secret_file(path)]
        _read_sources(self.change, candidates, self.shared)
        for path in candidates:
            found = self.shared.get(("source", path))
            if found is None or _minified(path, found[1], self.shared) or not _may_define(
                    path, found[1], name):
                continue
            theirs = _named(_definitions(self.change, path, found, self.shared), name)
            if theirs is not None:
                lines = found[1].decode("utf-8", "replace").split("\n")
                return path, _title(_render(path, lines, theirs, MAX_DEFINITION_LINES))
        return None

    def _naming(self, name: str, limit: int) -> list[str]:
        """The first `limit` source files (path order) using the word `name`, at the new side:
        searched in memory (`sources.read`) when the sources fit, else with `git grep`."""
        searched = self._sources()
        if searched is None:
            return _kept(self.shared, ("grep", "-l", name),
                         lambda: _grep(self.change, "-l", name))[:limit]
        return _kept(self.shared, ("naming", name, limit), lambda: searched.naming(name, limit))

    def _lines_using(self, name: str) -> list[str]:
        """"path\0line\0text" for each line of a source file using the word `name`, at the new
        side: searched in memory (`sources.read`) when the sources fit, else with `git grep`."""
        searched = self._sources()
        if searched is None:
            return _kept(self.shared, ("grep", "-n", name),
                         lambda: _grep(self.change, "-n", name))
        return _kept(self.shared, ("lines using", name), lambda: searched.lines_using(name))

    def _sources(self) -> sources.Sources | None:
        """The new side's source files as one text, read once per plan."""
        return _kept(self.shared, ("sources",), lambda: sources.read(self.change, self.shared))

    def _call_sites(self, name: str) -> list[str]:
        """Lines of source files that use `name` in other files (importers first), or elsewhere
        in this one."""
        importers = set(self.facts.importers) if self.facts is not None else set()
        hits = []
        for row in self._lines_using(name):
            path, _, rest = row.partition("\0")
            number, _, text = rest.partition("\0")
            if is_secret_file(path) or (path == self.unit.path and int(number or 0) in
                                        self.changed):
                continue
            hits.append((path not in importers, path != self.unit.path, path, number, text))
        hits.sort(key=lambda h: h[:2])
        return [f"{path}:{number}: {text.strip()}" for *_, path, number, text
                in hits[:MAX_CALL_SITES]]


def _kept(files: dict, key, make):
    """`make()`, once per plan for each key of `files` (`build`'s: the same files, names and
    units recur across a change's units and levels)."""
    if key not in files:
        files[key] = make()
    return files[key]


def _by_path(items) -> dict:
    """Files or their facts by path, the first of each path (as a search in order finds)."""
    found: dict = {}
    for item in items:
        found.setdefault(item.path, item)
    return found


def _named(definitions: list[Definition], name: str) -> Definition | None:
    return next((d for d in definitions if d.name == name or d.name.endswith("." + name)), None)


def _render(path: str, lines: list[str], definition: Definition, limit: int | None) -> str:
    """A definition's lines, numbered as the diff is, under a title line."""
    end = definition.end if limit is None else min(definition.end, definition.start + limit - 1)
    body = "\n".join(f"{n:>6}   {lines[n - 1]}" for n in range(definition.start, end + 1)
                     if n <= len(lines))
    cut = f"\n{'':>6}   [... {definition.end - end} more lines]" if end < definition.end else ""
    return (f"# {path} lines {definition.start}-{definition.end}: {definition.kind} "
            f"{definition.name}\n{body}{cut}")


def _title(rendered: str) -> tuple[str, str]:
    title, _, body = rendered.partition("\n")
    return title, body


def new_lines(change: ChangeSet, file: FileChange,
              old_blobs: dict[str, bytes] | None = None) -> list[str] | None:
    """The new file's lines: the old file with the change's hunks applied, so the context shows
    exactly the diff's new side (also for a diff that is not the repository's). `old_blobs`
    (sha: contents) spares reading the old file again."""
    from cartriage import intake

    old: list[str] = []
    if file.status != "added":
        data = (old_blobs or {}).get(file.old_blob or "")
        if data is None:
            data = intake.read_blob(change, file.old_path or file.path, "old")
        if data is None:
            return None
        old = data.decode("utf-8", "replace").split("\n")
    return apply(old, file.hunks)


def apply(old: list[str], hunks: tuple[Hunk, ...]) -> list[str] | None:
    """`old` with `hunks` applied; None when the hunks do not fit it."""
    out, at = [], 0
    for hunk in hunks:
        start = hunk.old_start - 1 if hunk.old_count else hunk.old_start
        if start < at or start > len(old):
            return None
        out += old[at:start]
        at = start
        for line in hunk.lines:
            kind, text = line[:1], line[1:]
            if kind == " ":
                out.append(text)
                at += 1
            elif kind == "-":
                at += 1
            elif kind == "+":
                out.append(text)
    return out + old[at:]


def _old_blobs(change: ChangeSet) -> dict[str, bytes]:
    """The old side of every changed source file that context may be built for (a grammar,
    not a secret file), in one `git cat-file`."""
    from cartriage.analysis import fanin, languages

    shas = sorted({f.old_blob for f in change.files if f.old_blob and len(f.old_blob) == 40
                   and f.status != "added" and not (f.binary or f.submodule)
                   and languages.detect(f.path) and not is_secret_file(f.path)})
    try:
        return fanin.read_blobs(change.repo_root, shas) if change.repo_root else {}
    except OSError:
        return {}


def _stored(change: ChangeSet, file: FileChange, data: bytes, language: str, files: dict):
    """The stored outline of the new file when `data` is its new blob (same git object id),
    with or without the final newline (an added file's lines, from its hunk alone, end
    without it), else None. The store is read once for every changed file."""
    import hashlib

    from cartriage.analysis import fanin, languages, store

    def read_store():
        keys = [f"{f.new_blob}:{lang}" for f in change.files
                if f.new_blob and (lang := languages.detect(f.path))]
        db = store.connect(fanin.cache_folder(change.repo_root)) if keys else None
        stored = store.get(db, keys)
        if db is not None:
            db.close()
        return stored

    stored = _kept(files, ("stored",), read_store)
    if not file.new_blob:
        return None
    if not any(hashlib.sha1(b"blob %d\0" % len(blob) + blob, usedforsecurity=False).hexdigest()
               == file.new_blob for blob in (data, data + b"\n")):
        return None
    return stored.get(f"{file.new_blob}:{language}")


def _changed_lines(hunks) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The changed lines' numbers in the new file (a deletion's: where it was) and the added
    lines' text, each hunk's lines numbered once."""
    lines: set[int] = set()
    texts: list[str] = []
    for hunk in hunks:
        added = hunk.added()
        lines.update(n for n, _ in added)
        texts += [text for _, text in added]
        if not added and hunk.removed():
            lines.add(max(1, hunk.new_start))
    return tuple(sorted(lines)), tuple(texts)


def _grep(change: ChangeSet, mode: str, name: str) -> list[str]:
    """`git grep` for the word `name` in the source files (a tree-sitter grammar's extension,
    as `languages.detect`) at the change's new side: paths (`-l`) or "path\\0line\\0text" rows
    (`-n`)."""
    from cartriage.analysis import languages
    from cartriage.intake import git
    from cartriage.intake.change import INDEX, WORKTREE

    args = ["grep", "-z", "-I", "-w", "-F", mode, "-e", name]
    rev = change.new_rev
    if rev == INDEX:
        args.append("--cached")
    elif rev not in (None, WORKTREE):
        args.append(rev)
    args += ["--", *(f":(icase)*{extension}" for extension in languages.extensions())]
    try:
        out = git.git(change.repo_root, *args).decode("utf-8", "replace")
    except git.GitError:  # no match (exit 1), or an unreadable revision: no context from it
        return []
    prefix = f"{rev}:" if rev not in (None, INDEX, WORKTREE) else ""
    if mode == "-l":
        return [p.removeprefix(prefix) for p in out.split("\0") if p]
    rows = []
    for row in out.splitlines():
        parts = row.split("\0")
        if len(parts) >= 3:
            path = parts[0].removeprefix(prefix)
            rows.append(f"{path}\0{parts[1]}\0{chr(0).join(parts[2:])}")
    return rows


def _read_sources(change: ChangeSet, paths: list[str], files: dict) -> None:
    """Read the source files of `paths` not read yet at the change's new side (one `git
    cat-file` for all), into `files` under ("source", path): (blob sha or "", contents)."""
    from cartriage.analysis import fanin, languages
    from cartriage.intake.change import WORKTREE

    unread = [p for p in paths if ("source", p) not in files and languages.detect(p)]
    if not unread:
        return
    if change.new_rev == WORKTREE:
        found = {p: ("", data) for p in unread if (data := _read(change, p)) is not None}
    else:
        found = fanin.read_paths(change.repo_root, change.new_rev, unread)
    for path in unread:
        files[("source", path)] = found.get(path)


def _minified(path: str, data: bytes, files: dict) -> bool:
    """`analysis.minified`, once per file and plan (the names looked for share files)."""
    from cartriage.analysis import minified

    return _kept(files, ("minified", path), lambda: minified(data))


def _may_define(path: str, data: bytes, name: str) -> bool:
    from cartriage.analysis import languages

    check = getattr(languages.get(languages.detect(path)).module, "may_define", None)
    return check is None or check(data, name)


def _definitions(change: ChangeSet, path: str, found: tuple[str, bytes], files: dict):
    """The definitions of a source file read by `_read_sources`, kept in `files`: from the
    analysis outline store when it holds the blob (a file near the change is looked at again
    in the next plan), else parsed and stored there."""
    from cartriage.analysis import fanin, languages, store
    from cartriage.analysis.symbols import outline

    def stored_or_parsed():
        blob, data = found
        lang = languages.detect(path)
        db = store.connect(fanin.cache_folder(change.repo_root)) if blob else None
        try:
            key = f"{blob}:{lang}"
            known = store.get(db, [key]).get(key)
            if known is None:
                known = outline(languages.get(lang), data)
                if db is not None:
                    store.put(db, {key: store.encode(known)})
        finally:
            if db is not None:
                db.close()
        return known.definitions

    return _kept(files, ("defined", path), stored_or_parsed)


def _read(change: ChangeSet, path: str) -> bytes | None:
    from cartriage.intake import git

    return git.read_blob(change.repo_root, change.new_rev, path)
