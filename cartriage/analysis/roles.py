"""Roles a file plays, from the patterns in `roles.toml` and from `[[rules]]` in the config."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cartriage import regex_literals
from cartriage.analysis.facts import RoleHit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class Glob:
    """A path glob matched case-insensitively; `**/` may also match nothing, like
    config.glob_match. Globs made of literals and `*` (nearly all of roles.toml) are matched
    with string operations: compiling hundreds of regexes would cost a plan 0.2 s."""

    __slots__ = ("text", "_variants", "_regex", "tail", "needle")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        variants = [pattern.lower()]
        while variants[-1].startswith("**/"):
            variants.append(variants[-1][3:])
        self._regex = None
        self._variants: tuple[tuple[str, ...], ...] = ()
        if any(c in pattern for c in "?["):
            self._regex = re.compile("|".join(f"(?:{fnmatch.translate(v)})" for v in variants))
            self.tail = self.needle = ""
        else:
            self._variants = tuple(_pieces(v) for v in variants)
            ends = [pieces[-1][::-1] for pieces in self._variants]
            self.tail = os.path.commonprefix(ends)[::-1]  # what every match ends with
            # and holds: each variant holds the pieces of the last (`**/` taken off the front)
            self.needle = max(self._variants[-1], key=len)

    def match(self, path: str) -> bool:
        """Whether `path` (already lower-cased) matches, with fnmatch's `*` (crossing `/`)."""
        if not path.endswith(self.tail):  # a quick no
            return False
        if self._regex is not None:
            return self._regex.match(path) is not None
        return any(_star_match(pieces, path) for pieces in self._variants)


def _pieces(glob: str) -> tuple[str, ...]:
    """Literal pieces between `*`s; runs of `*` are one `*`."""
    parts = glob.split("*")
    return (parts[0], *(p for p in parts[1:-1] if p), parts[-1]) if len(parts) > 1 else (glob,)


def _star_match(pieces: tuple[str, ...], text: str) -> bool:
    """fnmatch for a glob split on `*`: leftmost matching of the inner pieces is exact."""
    if len(pieces) == 1:
        return text == pieces[0]
    first, last = pieces[0], pieces[-1]
    end = len(text) - len(last)
    if end < len(first) or not text.startswith(first) or not text.endswith(last):
        return False
    position = len(first)
    for piece in pieces[1:-1]:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


@functools.cache
def _regex(source: str, flags: int = 0) -> re.Pattern:
    """Content regexes are compiled on first use: most plans never need most of them."""
    return re.compile(source, flags)


@dataclass(frozen=True)
class Pattern:
    """One `[[pattern]]` of roles.toml; every condition given must hold. Regexes are kept as
    source text and compiled when first needed."""

    role: str
    what: str
    path: tuple[Glob, ...] = ()
    path_re: tuple[str, ...] = ()
    not_path: tuple[Glob, ...] = ()
    language: frozenset[str] = frozenset()
    imports: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    unless_role: frozenset[str] = frozenset()
    changed_lines: bool = False  # `text` searched in the changed lines only, not the file's head

    @functools.cached_property
    def path_marks(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What a path matching one of `path` ends with and holds (`Glob.tail`, `needle`):
        most paths end with or hold none, and one check spares trying each glob."""
        return tuple(g.tail for g in self.path), tuple(g.needle for g in self.path)

    @functools.cached_property
    def not_path_marks(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(g.tail for g in self.not_path), tuple(g.needle for g in self.not_path)

    @functools.cached_property
    def imports_regex(self) -> regex_literals.Lazy:
        """One regex of `imports`, matched at the start of a module name."""
        return regex_literals.Lazy("|".join(f"(?:{r})" for r in self.imports))

    @property
    def needs_content(self) -> bool:
        return bool(self.imports or self.text)


@dataclass(frozen=True)
class Catalogue:
    patterns: tuple[Pattern, ...]
    core_percentile: float
    core_min_fan_in: int
    default_consequence: dict[str, str]  # role -> tier, unless a [[rules]] entry pins one


CATALOGUE = Path(__file__).with_name("roles.toml")


@functools.lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The role patterns shipped with cartriage (roles.toml), compiled once."""
    data = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    patterns = []
    for entry in data.get("pattern", []):
        patterns.append(Pattern(
            role=entry["role"], what=entry.get("what", entry["role"]),
            path=tuple(Glob(g) for g in entry.get("path", ())),
            path_re=tuple(entry.get("path_re", ())),
            not_path=tuple(Glob(g) for g in entry.get("not_path", ())),
            language=frozenset(entry.get("language", ())),
            imports=tuple(entry.get("imports", ())),
            text=tuple(entry.get("text", ())),
            unless_role=frozenset(entry.get("unless_role", ())),
            changed_lines=bool(entry.get("changed_lines", False)),
        ))
    core = data.get("core", {})
    return Catalogue(tuple(patterns), float(core.get("percentile", 90.0)),
                     int(core.get("min_fan_in", 3)), dict(data.get("default_consequence", {})))


def default_consequence(role_names: tuple[str, ...]) -> tuple[str, str] | None:
    """(tier, why) when every role of a file has a default tier and they agree, else None."""
    defaults = catalogue().default_consequence
    tiers = {defaults.get(role) for role in role_names}
    if not role_names or None in tiers or len(tiers) != 1:
        return None
    return tiers.pop(), f"roles.toml default for role {', '.join(role_names)}"


@dataclass
class Content:
    """What is known of a file's contents: its imports and text segments to search.

    `segments` are (text, first line number or None when the lines are diff fragments, label).
    """

    imports: tuple[str, ...] = ()
    segments: tuple[tuple[str, int | None, str], ...] = ()

    @functools.cached_property
    def imports_text(self) -> str:
        """The imports, one a line: a regex none of whose literals is in it matches none."""
        return "\n".join(self.imports)


def detect(path: str, language: str | None, content: Content | None) -> list[RoleHit]:
    """Role hits for one file: by path always, by imports and text when content is known."""
    found: list[tuple[Pattern, RoleHit]] = []
    seen: set[tuple[str, str]] = set()
    for pattern, parts in _by_path(path, language):
        if (pattern.role, pattern.what) in seen:
            continue
        evidence = _by_content(pattern, parts, content)
        if evidence is not None:
            seen.add((pattern.role, pattern.what))
            found.append((pattern, RoleHit(pattern.role, f"{pattern.what}: {evidence}")))
    _folded.cache_clear()
    unconditional = {hit.role for pattern, hit in found if not pattern.unless_role}
    return [hit for pattern, hit in found if not pattern.unless_role & unconditional]


@functools.lru_cache(maxsize=8192)  # `plan --batch` meets the same paths commit after commit
def _by_path(path: str, language: str | None) -> tuple[tuple[Pattern, tuple[str, ...]], ...]:
    """The patterns whose path and language conditions hold for `path`, in catalogue order,
    each with the evidence those conditions give."""
    lowered = path.lower()
    out = []
    for pattern in catalogue().patterns:
        parts = _path_evidence(pattern, path, lowered, language)
        if parts is not None:
            out.append((pattern, parts))
    return tuple(out)


def _path_evidence(pattern: Pattern, path: str, lowered: str,
                   language: str | None) -> tuple[str, ...] | None:
    if not (pattern.path or pattern.path_re or pattern.language or pattern.needs_content):
        return None
    parts = []
    if pattern.language:
        if language not in pattern.language:
            return None
        if not (pattern.path or pattern.path_re or pattern.needs_content):
            parts.append(f"language {language}")
    if pattern.path:
        glob = next((g for g in pattern.path if g.match(lowered)), None) \
            if _may_hold(lowered, pattern.path_marks) else None
        if glob is None:
            return None
        parts.append(f"path matches {glob.text!r}")
    if pattern.path_re:
        found = next((m for m in (_regex(r, re.IGNORECASE).search(path) for r in pattern.path_re
                                  if _may_match(f"(?i){r}", path)) if m), None)
        if found is None:
            return None
        parts.append(f"path contains {found.group(0).strip('/_.-')!r}")
    if _may_hold(lowered, pattern.not_path_marks) and any(g.match(lowered)
                                                           for g in pattern.not_path):
        return None
    return tuple(parts)


def _may_hold(path: str, marks: tuple[tuple[str, ...], tuple[str, ...]]) -> bool:
    """Whether one of a pattern's globs may match `path` (it ends with a tail and holds a
    needle of theirs)."""
    tails, needles = marks
    return path.endswith(tails) and any(needle in path for needle in needles)


def _by_content(pattern: Pattern, parts: tuple[str, ...], content: Content | None) -> str | None:
    """The evidence of a pattern whose path conditions hold, once its content ones do too."""
    parts = list(parts)
    if pattern.imports:
        if content is None:
            return None
        regex = pattern.imports_regex  # compiled only once a file's imports hold a literal
        module = next(filter(regex.match, content.imports), None) if regex.compiled_yet \
            or _may_match(regex.pattern, content.imports_text) else None
        if module is None:
            return None
        parts.append(f"imports {module!r}")
    if pattern.text:
        if content is None:
            return None
        segments = content.segments
        if pattern.changed_lines:
            segments = tuple(s for s in segments if s[1] is None)
        found_text = _search(pattern.text, segments)
        if found_text is None:
            return None
        parts.append(found_text)
    return "; ".join(parts)


def _search(regexes: tuple[str, ...], segments) -> str | None:
    for text, first_line, label in segments:
        for source in regexes:
            if not _may_match(source, text):
                continue
            match = _regex(source).search(text)
            if match is None:
                continue
            snippet = " ".join(match.group(0).split())[:60]
            if first_line is None:
                return f"{label} has {snippet!r}"
            line = first_line + text.count("\n", 0, match.start())
            return f"{label} has {snippet!r} at line {line}"
    return None


def _may_match(source: str, text: str) -> bool:
    """False when `text` lacks every literal of the regex's most selective required set
    (`regex_literals.read`): then the regex cannot match, and the search of the whole
    text (most of a plan's role time, the case-insensitive alternations above all) is spared,
    and so is compiling the regex."""
    folds, literals = _required(source)
    if not literals:
        return True
    haystack = _folded(text) if folds else text
    return any(map(haystack.__contains__, literals))


@functools.cache
def _required(source: str) -> tuple[bool, frozenset[str]]:
    """Whether the regex ignores case, and its most selective set of required literals."""
    folds, literals = regex_literals.read(source)
    return folds, next(iter(literals), frozenset())


def prefiltered() -> list[tuple[str, int]]:
    """(text, flags) of the catalogue's regexes tried only where their literals are
    (`regex_literals.STORED`)."""
    return [(regex, 0) for pattern in catalogue().patterns
            for regex in (*(f"(?i){r}" for r in pattern.path_re), *pattern.text,
                          *([pattern.imports_regex.pattern] if pattern.imports else []))]


@functools.lru_cache(maxsize=1024)  # the segments of the file being detected; cleared after
def _folded(text: str) -> str:
    return regex_literals.fold(text)


def from_rules(path: str, hits: list[RoleHit], rules) -> list[RoleHit]:
    """Roles added (`role`) or taken away (`remove_role`) by `[[rules]]` (path and/or has_role),
    in order; an added role names the rule as its evidence."""
    hits = list(hits)
    for rule in rules:
        removed = rule.remove_role
        if not rule.role and not removed:
            continue
        names = tuple(dict.fromkeys(h.role for h in hits))
        if not rule.matches(path, names):
            continue
        if removed:
            hits = [h for h in hits if h.role != removed]
        if rule.role and rule.role not in names:
            hits.append(RoleHit(rule.role, f"added by {rule.describe()}"))
    return hits
