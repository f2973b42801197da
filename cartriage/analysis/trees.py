"""Incremental reparse: a changed file's new version is reparsed from its old version's tree
with the diff's hunks as edits (tree-sitter's incremental parse), which gives the same tree as
a whole parse for a fraction of the work.

A batch keeps the trees of the new versions that a later commit of the batch changes again
(`Kept`): a tree takes about 30 times its source, so they are bounded by their sources' bytes,
and the one needed furthest ahead goes first (the batch's file lists are known in advance).
"""

from __future__ import annotations

import bisect
import operator
from itertools import accumulate, repeat

KEPT_BYTES = 1_000_000  # of source: the kept trees take about 30 MB
NEVER = 1 << 62  # the position of a use that does not come


class Kept:
    """Trees of new versions kept for the later commits that change them again (by store key,
    `blob:language`: the same blob under another grammar is another tree).

    `uses` gives each blob the positions of the commits (in batch order) whose old version it
    is; `at(position)` says which commit is being read. A tree is kept only while a later use
    remains, within `budget` bytes of source; beyond it the tree used furthest ahead goes
    (Belady's rule: the fewest whole parses for the memory)."""

    def __init__(self, uses: dict[str, list[int]], budget: int = KEPT_BYTES) -> None:
        self.uses, self.budget = uses, budget
        self.position = -1
        self.trees: dict[str, tuple[bytes, object]] = {}  # blob:language: (source, tree)
        self.size = 0

    def at(self, position: int) -> None:
        self.position = position

    def take(self, blob: str | None) -> tuple[bytes, object] | None:
        """The kept (source, tree) of `blob`, no longer kept (the reparse edits the tree)."""
        found = self.trees.pop(blob, None) if blob else None
        if found is not None:
            self.size -= len(found[0])
        return found

    def offer(self, blob: str | None, source: bytes, tree) -> None:
        """Keep `blob`'s tree if a later commit changes it, within the budget."""
        if not blob or self._next(blob) == NEVER or len(source) > self.budget:
            return
        self.take(blob)
        self.trees[blob] = (source, tree)
        self.size += len(source)
        while self.size > self.budget:
            self.take(max(self.trees, key=self._next))

    def _next(self, blob: str) -> int:
        """The position of the next commit changing `blob`, this one included (NEVER: none
        is left)."""
        positions = self.uses.get(blob.split(":", 1)[0], ())
        found = bisect.bisect_left(positions, self.position)
        return positions[found] if found < len(positions) else NEVER


def parse(language, source: bytes, previous: tuple[bytes, object] | None = None,
          hunks=()):
    """The tree of `source`: reparsed from `previous` (old source, its tree: edited here) when
    `hunks` account for every difference between the two, else parsed whole."""
    tree = reparse(language, source, previous, hunks) if previous is not None else None
    return language.parser().parse(source) if tree is None else tree


def reparse(language, source: bytes, previous: tuple[bytes, object], hunks):
    """`source`'s tree reparsed from `previous` (old source, its tree: edited here), or None
    when `hunks` do not account for every difference between the two (nothing is edited)."""
    old, tree = previous
    found = edits(old, source, hunks)
    if found is None:
        return None
    for edit in found:
        tree.edit(**edit)
    return language.parser().parse(source, tree)


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
