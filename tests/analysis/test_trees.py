"""Incremental reparse: a tree reparsed from the old version's with the hunks as edits equals a
whole parse (trees and outlines), on edge cases and on this project's history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from analysis_support import file_change

from cartriage import config as configuration
from cartriage import intake
from cartriage.analysis import fanin, languages, trees
from cartriage.analysis.symbols import outline, outline_edited

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = languages.get("python")


def _assert_same_as_whole(old: bytes, new: bytes, hunks) -> bool:
    """The reparsed tree and its outline, and the outline made from the old one's where
    `outline_edited` makes one (returned: whether it did), equal a whole parse's."""
    assert trees.edits(old, new, hunks) is not None
    previous = (old, PYTHON.parser().parse(old))
    old_outline = outline(PYTHON, old, tree=previous[1])
    tree, whole = trees.parse(PYTHON, new, previous, hunks), PYTHON.parser().parse(new)
    assert str(tree.root_node) == str(whole.root_node)
    assert tree.root_node.end_point == whole.root_node.end_point
    assert outline(PYTHON, new, tree=tree) == outline(PYTHON, new)
    made = outline_edited(PYTHON, new, tree, previous, old_outline, hunks)
    assert made in (None, outline(PYTHON, new))
    return made is not None


BASE = "".join(f"def f{n}(a):\n    return a + {n}\n\n\n" for n in range(12))
CLASS = ('__all__ = ["C"]\n\n\ndef f():\n    pass\n\n\nclass C:\n' + "".join(
    f"    {'@property' if n == 3 else ''}\n    def m{n}(self):\n        return {n}\n\n"
    for n in range(8)) + "\n\ndef g():\n    import json\n    return json\n")


@pytest.mark.parametrize("old, new", [
    (BASE, "import os\n" + BASE),  # at the start
    (BASE, BASE + "class C:\n    pass"),  # at the end, no final newline
    (BASE + "x = 1", BASE + "x = 2\n"),  # the last line, newline added
    (BASE, BASE.replace("return a + 3", "return (a,\n            3)")
     .replace("def f9(a)", "def f9(a, b)")),  # two hunks, lines added in the first
    (BASE, BASE.replace("def f5(a):\n    return a + 5\n\n\n", "")),  # lines removed
    (BASE, ""),  # everything removed
    (BASE, BASE.replace("def f2", "de f2")),  # a syntax error appears
    (CLASS, CLASS.replace("return 2", "return 3")),  # inside one method of a class
    (CLASS, CLASS.replace("return 6", "from os import path\n        return path")),
    (CLASS, CLASS.replace("@property\n", "")),  # a decorator goes
    (CLASS, CLASS.replace("    def m4(self)", "def m4(self)")),  # a method leaves the class
    (CLASS, "import sys\n" + CLASS.replace("def m1(self)", "def m1(self, a)")),
    (CLASS, CLASS.replace('__all__ = ["C"]', '__all__ = ["C", "f"]')),  # publicness changes
], ids=["start", "end", "last-line", "two-hunks", "removed", "emptied", "syntax-error",
        "method", "nested-import", "decorator", "dedented", "import-and-signature", "all"])
def test_a_reparsed_tree_equals_a_whole_parse(old, new, tmp_path):
    (tmp_path / "a.py").write_text(old)
    (tmp_path / "b.py").write_text(new)
    for context in (0, 3):
        diff = subprocess.run(["git", "diff", "--no-index", f"-U{context}", "a.py", "b.py"],
                              cwd=tmp_path, capture_output=True, check=False).stdout
        (change,) = intake.parse_diff(diff)
        made = _assert_same_as_whole(old.encode(), new.encode(), change.hunks)
        # outlined from the old outline unless a syntax error or a new `__all__` may differ
        assert made == ("de f2" not in new and '"f"]' not in new)


def test_hunks_that_are_not_the_pairs_diff_give_a_whole_parse():
    old, new = BASE.encode(), BASE.replace("a + 7", "a - 7").encode()
    other = file_change("m.py", BASE, BASE.replace("a + 2", "a - 2")).hunks
    assert trees.edits(old, new, other) is None and trees.edits(old, new, ()) is None
    tree = trees.parse(PYTHON, new, (old, trees.parse(PYTHON, old)), other)
    assert str(tree.root_node) == str(PYTHON.parser().parse(new).root_node)


def test_reparsed_outlines_equal_whole_parses_on_this_projects_history(tmp_path):
    """Every modified Python file of the last 30 first-parent commits, from the hunks of the
    `git log -p` stream `plan --batch` reads."""
    if not (PROJECT / ".git").exists():
        pytest.skip("not a git checkout")
    count = int(subprocess.run(["git", "rev-list", "--first-parent", "--count", "HEAD"],
                               cwd=PROJECT, capture_output=True, text=True, check=True).stdout)
    if count < 3:
        pytest.skip("a shallow clone: no history to walk")
    config = configuration.load(cwd=tmp_path, env={})
    checked = made = 0
    for change in intake.first_parent_changes(PROJECT, f"HEAD~{min(count - 1, 30)}..HEAD",
                                              config):
        files = [f for f in change.files if f.status == "modified" and f.path.endswith(".py")
                 and f.hunks]
        blobs = fanin.read_blobs(str(PROJECT), [b for f in files
                                                for b in (f.old_blob, f.new_blob)])
        for f in files:
            made += _assert_same_as_whole(blobs[f.old_blob], blobs[f.new_blob], f.hunks)
            checked += 1
    assert checked >= 10 and made >= checked // 2


def test_kept_trees_are_those_used_again_the_one_needed_furthest_ahead_goes_first():
    kept = trees.Kept({"a": [3], "b": [2, 5], "c": [4]}, budget=10)
    kept.at(1)
    for blob in ("a", "b", "c", "d"):  # d: no later commit changes it
        kept.offer(blob, blob.encode() * 4, f"tree {blob}")
    assert sorted(kept.trees) == ["a", "b"] and kept.size == 8  # c's use is the furthest
    assert kept.take("b") == (b"bbbb", "tree b") and kept.take("b") is None
    kept.offer("x" * 40, b"x" * 11, "too big")
    kept.at(4)  # "a" was to be used at 3, and was not: it goes before one used later
    kept.offer("c", b"c" * 8, "tree c")
    assert sorted(kept.trees) == ["c"] and kept.size == 8
