"""Literals every match of a regex holds, read from the regex's own parse tree.

A text that holds no literal of such a set cannot match, so `literal in text` (a fast
substring search) can spare a regex search that tries the pattern at every position. Used by
the secret scan (`review/redact.py`) and the role patterns (`analysis/roles.py`).

Reading a regex's parse tree costs about as much as compiling it (0.3-1 ms each: 0.1 s for the
secret and role rules of one plan), so the sets of those rules are stored in `STORED`, read
from it by the regex's text and flags (a regex not stored is parsed), and the rules are
`Lazy`: compiled only when a text holds their literals (`python -c "from cartriage import
regex_literals; regex_literals.store()"` after changing one; tests/test_regex_literals.py
checks the file).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from re import _constants as sre  # the parse tree's opcodes
from re import _parser as sre_parse

STORED = Path(__file__).with_name("regex_literals.json")

# The characters other than ASCII letters that `re` matches to an ASCII letter when ignoring
# case (`(?i)pass` matches `paſſ`): `fold` maps them before lower-casing.
ASCII_FOLDS = str.maketrans("\u0130\u0131\u017f\u212a", "iisk")


class Lazy:
    """A regex compiled when first used (`search`, `match`, `finditer`, with the compiled
    regex's arguments; then those are the compiled regex's own, without a call in between);
    equal to another of the same text and flags, as compiled ones are."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern | None = None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Lazy) and self.pattern == other.pattern
                and self.flags == other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    @property
    def compiled(self) -> re.Pattern:
        if self._compiled is None:
            compiled = self._compiled = re.compile(self.pattern, self.flags)
            self.search, self.match = compiled.search, compiled.match
            self.finditer = compiled.finditer
        return self._compiled

    @property
    def compiled_yet(self) -> bool:
        return self._compiled is not None

    @property
    def groups(self) -> int:
        return self.compiled.groups

    def search(self, *args, **kwargs) -> re.Match | None:
        return self.compiled.search(*args, **kwargs)

    def match(self, *args, **kwargs) -> re.Match | None:
        return self.compiled.match(*args, **kwargs)

    def finditer(self, *args, **kwargs):
        return self.compiled.finditer(*args, **kwargs)


@functools.cache
def read(source: str, flags: int = 0) -> tuple[bool, tuple[frozenset[str], ...]]:
    """(whether the regex ignores case, by its flags or inline `(?i)`; sets of literals, the
    most selective first: every match holds one literal of each set), stored or read from its
    parse tree, never by compiling it. When the regex ignores case the literals are lower case,
    to be looked for in `fold(text)`; a set with a non-ASCII literal is then left out (its case
    folding is not `str.lower`'s)."""
    stored = _stored().get((source, flags))
    if stored is not None:
        return stored
    return parsed(source, flags)


def parsed(source: str, flags: int = 0) -> tuple[bool, tuple[frozenset[str], ...]]:
    """`read`'s answer from the regex's parse tree."""
    tree = sre_parse.parse(source, flags)
    ignoring = bool(tree.state.flags & re.IGNORECASE)
    sets = _literals(tree)
    if ignoring:
        sets = [frozenset(x.lower() for x in s) for s in sets
                if all(x.isascii() for x in s)]
    return ignoring, tuple(sorted((_shortest(s) for s in sets),
                                  key=lambda s: (-min(map(len, s)), len(s))))


@functools.cache
def _stored() -> dict[tuple[str, int], tuple[bool, tuple[frozenset[str], ...]]]:
    """The stored answers by (regex text, flags); none when the file cannot be read."""
    try:
        rows = json.loads(STORED.read_text(encoding="utf-8"))["regexes"]
        return {(source, flags): (ignoring, tuple(frozenset(s) for s in sets))
                for source, flags, ignoring, sets in rows}
    except (OSError, ValueError, KeyError, TypeError):  # then every regex is parsed
        return {}


def rows(regexes: Iterable[tuple[str, int]]) -> list[list]:
    """`STORED`'s rows for `regexes` ((text, flags)), parsed, sorted."""
    return [[source, flags, ignoring, [sorted(s) for s in sets]]
            for source, flags in sorted(set(regexes))
            for ignoring, sets in [parsed(source, flags)]]


def store() -> None:
    """Write `STORED` for the secret rules and the role patterns."""
    from cartriage.analysis import roles
    from cartriage.review import redact

    lines = ",\n".join(json.dumps(row) for row in rows([*redact.prefiltered(),
                                                           *roles.prefiltered()]))
    STORED.write_text(f'{{"regexes": [\n{lines}\n]}}\n', encoding="utf-8")


def fold(text: str) -> str:
    """`text` as a pattern ignoring case sees it, for finding lower-case literals."""
    if not text.isascii():
        for code, ascii_letter in ASCII_FOLDS.items():  # as `str.translate`, much faster
            text = text.replace(chr(code), chr(ascii_letter))
    return text.lower()


def _shortest(literals: frozenset[str]) -> frozenset[str]:
    """The literals of a set that hold no other (a line holding `password` holds `pass`)."""
    return frozenset(a for a in literals if not any(b != a and b in a for b in literals))


def _literals(items) -> list[frozenset[str]]:
    """Sets of literals, each set holding one literal every match contains, read from a parse
    tree (runs of literal characters, groups, repeats of at least one, branches)."""
    found: list[frozenset[str]] = []
    run = ""
    for op, value in list(items) + [(None, None)]:
        if op is sre.LITERAL:
            run += chr(value)
            continue
        if run:
            found.append(frozenset({run}))
            run = ""
        if op is sre.SUBPATTERN and not value[1] & re.IGNORECASE:  # not `(?i:...)`
            found += _literals(value[3])
        elif op is sre.ATOMIC_GROUP:
            found += _literals(value)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and value[0] >= 1:
            found += _literals(value[2])
        elif op is sre.BRANCH:
            options = [max(_literals(branch), key=lambda s: min(map(len, s)), default=None)
                       for branch in value[1]]
            if all(options):
                found.append(frozenset().union(*options))
    return found
