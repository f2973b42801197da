"""Carrying findings over: the content key ignores line numbers; findings follow their text."""

from __future__ import annotations

from cartriage.intake.change import Hunk
from cartriage.ledger.reuse import carry_over, content_key, keep, line_texts
from cartriage.review.findings import Finding

LINES = ("+def load(path):", "+    return open(path).read()", " # end")


def hunk(start: int, lines: tuple[str, ...] = LINES) -> Hunk:
    return Hunk(start - 1, 0, start, len(lines), "", lines)


def found(line: int) -> Finding:
    return Finding("app/io.py", line, line, "major", "bug", "File never closed", "x", "y", 0.8,
                   "app/io.py", "single")


def test_the_key_ignores_line_numbers_but_not_code_or_path():
    key = content_key("app/io.py", "modified", (hunk(10),))
    assert key == content_key("app/io.py", "modified", (hunk(50),))
    assert key != content_key("app/other.py", "modified", (hunk(10),))
    assert key != content_key("app/io.py", "modified", (hunk(10, ("+def load(p):",)),))


def test_a_finding_moves_with_its_line():
    stored = [keep(found(11), line_texts((hunk(10),)))]
    moved, dropped = carry_over(stored, line_texts((hunk(50),)))
    assert dropped == 0
    assert (moved[0].line_start, moved[0].reanchored, moved[0].reused) == (51, True, True)
    same, _ = carry_over(stored, line_texts((hunk(10),)))
    assert (same[0].line_start, same[0].reanchored) == (11, False)


def test_a_finding_whose_line_is_gone_is_dropped():
    stored = [keep(found(11), line_texts((hunk(10),)))]
    kept, dropped = carry_over(stored, line_texts((hunk(10, ("+def load(path):",)),)))
    assert (kept, dropped) == ([], 1)


def test_deleted_files_use_old_line_numbers():
    removed = Hunk(3, 2, 0, 0, "", ("-a = 1", "-b = 2"))
    assert line_texts((removed,), deleted=True) == {3: "a = 1", 4: "b = 2"}
    assert line_texts((removed,)) == {}
