"""Literals every match of a regex holds, read from the regex's own parse tree.

A text that holds no literal of such a set cannot match, so `literal in text` (a fast
substring search) can spare a regex search that tries the pattern at every position. Used by
the secret scan (`review/redact.py`) and the role text patterns (`analysis/roles.py`).
"""

from __future__ import annotations

import re
from re import _constants as sre  # the parse tree's opcodes
from re import _parser as sre_parse

# The characters other than ASCII letters that `re` matches to an ASCII letter when ignoring
# case (`(?i)pass` matches `paſſ`): `fold` maps them before lower-casing.
ASCII_FOLDS = str.maketrans("\u0130\u0131\u017f\u212a", "iisk")


def required(pattern: re.Pattern) -> tuple[frozenset[str], ...]:
    """Sets of literals, the most selective first: every match of `pattern` holds one literal
    of each set. When the pattern ignores case they are lower case, to be looked for in
    `fold(text)`; a set with a non-ASCII literal is then left out (its case folding is not
    `str.lower`'s)."""
    ignores_case = bool(pattern.flags & re.IGNORECASE)
    sets = _literals(sre_parse.parse(pattern.pattern, pattern.flags))
    if ignores_case:
        sets = [frozenset(x.lower() for x in s) for s in sets
                if all(x.isascii() for x in s)]
    return tuple(sorted((_shortest(s) for s in sets), key=lambda s: (-min(map(len, s)), len(s))))


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
