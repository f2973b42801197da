"""Roles a file plays, from the patterns in `roles.toml` and from `[[rules]]` in the config."""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
from dataclasses import dataclass
from importlib import resources

from cartriage.analysis.facts import RoleHit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Pattern:
    """One `[[pattern]]` of roles.toml; every condition given must hold."""

    role: str
    what: str
    path: tuple[tuple[str, re.Pattern], ...] = ()
    path_re: tuple[re.Pattern, ...] = ()
    not_path: tuple[tuple[str, re.Pattern], ...] = ()
    language: frozenset[str] = frozenset()
    imports: tuple[re.Pattern, ...] = ()
    text: tuple[re.Pattern, ...] = ()

    @property
    def needs_content(self) -> bool:
        return bool(self.imports or self.text)


@dataclass(frozen=True)
class Catalogue:
    patterns: tuple[Pattern, ...]
    core_percentile: float
    core_min_fan_in: int


def _glob(pattern: str) -> tuple[str, re.Pattern]:
    """A glob as one regex; `**/` may also match nothing, like config.glob_match."""
    variants = [pattern]
    while pattern.startswith("**/"):
        pattern = pattern[3:]
        variants.append(pattern)
    return variants[0], re.compile("|".join(f"(?:{fnmatch.translate(v)})" for v in variants),
                                   re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The role patterns shipped with cartriage (roles.toml), compiled once."""
    data = tomllib.loads(resources.files("cartriage.analysis").joinpath("roles.toml").read_text(
        encoding="utf-8"))
    patterns = []
    for entry in data.get("pattern", []):
        patterns.append(Pattern(
            role=entry["role"], what=entry.get("what", entry["role"]),
            path=tuple(_glob(g) for g in entry.get("path", ())),
            path_re=tuple(re.compile(r, re.IGNORECASE) for r in entry.get("path_re", ())),
            not_path=tuple(_glob(g) for g in entry.get("not_path", ())),
            language=frozenset(entry.get("language", ())),
            imports=tuple(re.compile(r) for r in entry.get("imports", ())),
            text=tuple(re.compile(r) for r in entry.get("text", ())),
        ))
    core = data.get("core", {})
    return Catalogue(tuple(patterns), float(core.get("percentile", 90.0)),
                     int(core.get("min_fan_in", 3)))


@dataclass
class Content:
    """What is known of a file's contents: its imports and text segments to search.

    `segments` are (text, first line number or None when the lines are diff fragments, label).
    """

    imports: tuple[str, ...] = ()
    segments: tuple[tuple[str, int | None, str], ...] = ()


def detect(path: str, language: str | None, content: Content | None) -> list[RoleHit]:
    """Role hits for one file: by path always, by imports and text when content is known."""
    hits: list[RoleHit] = []
    seen: set[tuple[str, str]] = set()
    for pattern in catalogue().patterns:
        if (pattern.role, pattern.what) in seen:
            continue
        evidence = _evaluate(pattern, path, language, content)
        if evidence is not None:
            seen.add((pattern.role, pattern.what))
            hits.append(RoleHit(pattern.role, f"{pattern.what}: {evidence}"))
    return hits


def _evaluate(pattern: Pattern, path: str, language: str | None,
              content: Content | None) -> str | None:
    if not (pattern.path or pattern.path_re or pattern.language or pattern.needs_content):
        return None
    parts = []
    if pattern.language:
        if language not in pattern.language:
            return None
        if not (pattern.path or pattern.path_re or pattern.needs_content):
            parts.append(f"language {language}")
    if pattern.path:
        glob = next((g for g, regex in pattern.path if regex.match(path)), None)
        if glob is None:
            return None
        parts.append(f"path matches {glob!r}")
    if pattern.path_re:
        found = next((m for m in (r.search(path) for r in pattern.path_re) if m), None)
        if found is None:
            return None
        parts.append(f"path contains {found.group(0).strip('/_.-')!r}")
    if any(regex.match(path) for _, regex in pattern.not_path):
        return None
    if pattern.imports:
        if content is None:
            return None
        module = next((m for m in content.imports if any(r.match(m) for r in pattern.imports)),
                      None)
        if module is None:
            return None
        parts.append(f"imports {module!r}")
    if pattern.text:
        if content is None:
            return None
        found_text = _search(pattern.text, content.segments)
        if found_text is None:
            return None
        parts.append(found_text)
    return "; ".join(parts)


def _search(regexes: tuple[re.Pattern, ...], segments) -> str | None:
    for text, first_line, label in segments:
        for regex in regexes:
            match = regex.search(text)
            if match is None:
                continue
            snippet = " ".join(match.group(0).split())[:60]
            if first_line is None:
                return f"{label} has {snippet!r}"
            line = first_line + text.count("\n", 0, match.start())
            return f"{label} has {snippet!r} at line {line}"
    return None


def from_rules(path: str, hits: list[RoleHit], rules) -> list[RoleHit]:
    """Roles added by `[[rules]]` (path and/or has_role -> role), in order, with the rule named."""
    hits = list(hits)
    for rule in rules:
        if not rule.role:
            continue
        names = tuple(dict.fromkeys(h.role for h in hits))
        if rule.matches(path, names) and rule.role not in names:
            hits.append(RoleHit(rule.role, f"added by {rule.describe()}"))
    return hits
