"""ChangeSet.digest_parts: the change as text for the plan and score stores' keys."""

from __future__ import annotations

from cartriage.intake.change import ChangeSet, FileChange, Hunk


def _change(*hunks_lines, title=""):
    hunks = tuple(Hunk(1, 1, 1, 1, "", lines) for lines in hunks_lines)
    return ChangeSet(source="HEAD^!", files=(FileChange("a.py", None, "modified", hunks=hunks),),
                     old_rev="1" * 40, new_rev="2" * 40, title=title)


def _digest(change: ChangeSet) -> str:
    return "\0".join(change.digest_parts())


def test_the_digest_tells_apart_changes_whose_lines_join_alike():
    changes = [_change(("+a", "+b")), _change(("+a", "+b"), ()), _change(("+a\n+b",)),
               _change(("+a\n", "+b")), _change(("+a", "\n+b")), _change(("+a",), ("+b",)),
               _change(("+a", "+b", "")), _change(("+a +b",)), _change(("('+a\\n+b',)",)),
               _change(("+a", "+b"), title="fix")]
    digests = [_digest(change) for change in changes]
    assert len(set(digests)) == len(digests)
    assert _digest(_change(("+a", "+b"))) == digests[0]


def test_the_digest_holds_every_field_of_the_change_its_files_and_hunks():
    change = _change(("+a",))
    digest = _digest(change)
    assert repr(ChangeSet(source="HEAD^!", old_rev="1" * 40, new_rev="2" * 40)) in digest
    assert "'a.py'" in digest and "'modified'" in digest and "\n+a" in digest
