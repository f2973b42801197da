"""Build FileChanges for analysis tests from two versions of a file (through intake's parser)."""

from __future__ import annotations

import difflib
from pathlib import Path

from cartriage.intake import parse_diff
from cartriage.intake.change import ChangeSet, FileChange

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def diff_text(path: str, old: str | None, new: str | None, context: int = 3) -> str:
    """A git-style unified diff of one file (old None = added, new None = deleted)."""
    head = [f"diff --git a/{path} b/{path}"]
    if old is None:
        head.append("new file mode 100644")
    if new is None:
        head.append("deleted file mode 100644")
    body = difflib.unified_diff(
        (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{path}",
        tofile="/dev/null" if new is None else f"b/{path}", n=context)
    return "\n".join(head) + "\n" + "".join(body)


def file_change(path: str, old: str | None, new: str | None, context: int = 3) -> FileChange:
    (change,) = parse_diff(diff_text(path, old, new, context).encode())
    return change


def diff_only(*files: FileChange) -> ChangeSet:
    return ChangeSet(source="patch test", files=tuple(files))
