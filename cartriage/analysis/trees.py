"""Syntax trees kept between the commits of `plan --batch`: a file's next version is reparsed
from its last tree with the diff's hunks as edits (tree-sitter's incremental parse), which
gives the same tree as a whole parse for about half the work.

The trees are kept by "blob:language" in a `Kept` bounded by count and source bytes, so
memory stays flat however many commits a batch walks (netbox, 100 commits: 19 of about 250
new versions found their old tree kept, for 17 MB; 53 with 64 trees and 8 MB, for 52 MB).
"""

from __future__ import annotations

import bisect
import operator
from collections import OrderedDict
from itertools import accumulate, repeat

MAX_TREES = 16
MAX_BYTES = 1_000_000  # of kept sources: a Python tree takes about 23 times its source


class Kept:
    """The last trees parsed, oldest first; a tree taken out is edited, so it is not kept."""

    def __init__(self, most: int = MAX_TREES, most_bytes: int = MAX_BYTES) -> None:
        self.trees: OrderedDict[str, tuple[bytes, object]] = OrderedDict()
        self.most, self.most_bytes, self.size = most, most_bytes, 0

    def take(self, key: str) -> tuple[bytes, object] | None:
        found = self.trees.pop(key, None)
        if found is not None:
            self.size -= len(found[0])
        return found

    def keep(self, key: str, source: bytes, tree) -> None:
        self.take(key)
        if len(source) > self.most_bytes:
            return
        self.trees[key] = (source, tree)
        self.size += len(source)
        while len(self.trees) > self.most or self.size > self.most_bytes:
            _, (dropped, _) = self.trees.popitem(last=False)
            self.size -= len(dropped)


def parse(language, source: bytes, previous: tuple[bytes, object] | None = None,
          hunks=()):
    """The tree of `source`: reparsed from `previous` (old source, its tree: edited here) when
    `hunks` account for every difference between the two, else parsed whole."""
    parser = language.parser()
    if previous is not None:
        old, tree = previous
        found = edits(old, source, hunks)
        if found is not None:
            for edit in found:
                tree.edit(**edit)
            return parser.parse(source, tree)
    return parser.parse(source)


def edits(old: bytes, new: bytes, hunks) -> list[dict] | None:
    """tree-sitter edits turning `old` into `new`, one per hunk, top to bottom (each in the
    coordinates left by the ones before it); None when the text outside the hunks differs (the
    hunks are not this pair's diff) or there are none."""
    if not hunks:
        return None
    old_lines, new_lines = _line_starts(old), _line_starts(new)
    found = []
    old_done = new_done = 0  # bytes before the hunk still to check (end of the last hunk)
    for hunk in hunks:
        old_first = hunk.old_start - 1 if hunk.old_count else hunk.old_start
        new_first = hunk.new_start - 1 if hunk.new_count else hunk.new_start
        old_start, old_end = (_offset(old_lines, old, n)
                              for n in (old_first, old_first + hunk.old_count))
        new_start, new_end = (_offset(new_lines, new, n)
                              for n in (new_first, new_first + hunk.new_count))
        if (old_start < old_done or new_start - new_done != old_start - old_done
                or old[old_done:old_start] != new[new_done:new_start]):
            return None
        old_row, old_column = _point(old_lines, old_end)
        found.append({"start_byte": new_start, "old_end_byte": new_start + old_end - old_start,
                      "new_end_byte": new_end, "start_point": _point(new_lines, new_start),
                      "old_end_point": (old_row + new_first - old_first, old_column),
                      "new_end_point": _point(new_lines, new_end)})
        old_done, new_done = old_end, new_end
    if old[old_done:] != new[new_done:]:
        return None
    return found


def _line_starts(source: bytes) -> list[int]:
    """The byte offset where each line starts (a line past the last newline included),
    summed in C: a batch reparses thousands of files."""
    return list(accumulate(map(operator.add, map(len, source.split(b"\n")), repeat(1)),
                           initial=0))[:-1]


def _point(starts: list[int], offset: int) -> tuple[int, int]:
    """(row, column) of a byte offset."""
    row = bisect.bisect_right(starts, offset) - 1
    return row, offset - starts[row]


def _offset(starts: list[int], source: bytes, line: int) -> int:
    """Where 0-based `line` starts; the end of `source` past its last line."""
    return starts[line] if line < len(starts) else len(source)
