"""Defect injection: each kind found, each result parses, line numbers follow the rewrite."""

from __future__ import annotations

import pytest

from cartriage.calibration.inject import KINDS, candidates, inject
from cartriage.intake.change import ChangeSet
from cartriage.intake.diff import parse_diff

PYTHON = b"""\
diff --git a/app/store.py b/app/store.py
--- a/app/store.py
+++ b/app/store.py
@@ -1,2 +1,13 @@
 import os
+async def load(path, limit, items):
+    if path is None:
+        raise ValueError("no path")
+    if limit < 10:
+        return items[0]
+    handle = open(path)
+    data = await read(handle, limit)
+    handle.close()
+    if not data:
+        return None
+    return data[limit - 1]
 x = 1
@@ -20,2 +31,3 @@ def other():
 z = 3
+w = z
 q = 1
"""

JAVASCRIPT = b"""\
diff --git a/web/cart.js b/web/cart.js
--- a/web/cart.js
+++ b/web/cart.js
@@ -1,1 +1,7 @@
 const x = 1;
+function total(items, rate) {
+  if (!items) {
+    return 0;
+  }
+  return sum(items, rate) === rate;
+}
"""


def _file(patch: bytes):
    return parse_diff(patch)[0]


def test_every_kind_is_found_and_each_injection_parses():
    file = _file(PYTHON)
    found = candidates(file, (0,), None)
    assert {c.kind for c in found} == set(KINDS)
    by_kind = {c.kind: c for c in reversed(found)}  # the first of each kind
    assert by_kind["inverted-condition"].after == ("    if not (path is None):",)
    assert by_kind["off-by-one"].after == ("    if limit <= 10:",)
    assert by_kind["swapped-arguments"].after == ("    data = await read(limit, handle)",)
    assert any(c.kind == "dropped-call" and c.after == ("    data = read(handle, limit)",)
               for c in found)
    assert any(c.kind == "dropped-call" and c.after == () and c.line == 9 for c in found)
    guard = by_kind["removed-guard"]
    assert (guard.line, guard.count, guard.after) == (3, 2, ())
    # definitions are not rewritten: swapping a signature's parameters is not a call bug
    assert not any(c.line == 2 for c in found)


def test_a_rewrite_that_does_not_parse_is_refused():
    # Removing the only statement of a block leaves an empty body: tree-sitter reports it.
    patch = b"""\
diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -1,1 +1,4 @@
 x = 1
+for item in items:
+    handle.close()
+y = 2
"""
    found = candidates(_file(patch), (0,), None)
    assert not any(c.kind == "dropped-call" and c.after == () for c in found)


def test_the_whole_new_file_is_checked_when_known():
    file = _file(JAVASCRIPT)
    new_text = "const x = 1;\nfunction total(items, rate) {\n  if (!items) {\n    return 0;\n" \
               "  }\n  return sum(items, rate) === rate;\n}\n"
    found = candidates(file, (0,), new_text)
    kinds = {c.kind for c in found}
    assert {"inverted-condition", "removed-guard", "swapped-arguments"} <= kinds
    assert next(c for c in found if c.kind == "removed-guard").count == 3
    # a file that disagrees with the diff is not guessed at
    assert candidates(file, (0,), "something else entirely\n") == []


def test_no_grammar_no_injection():
    patch = b"diff --git a/n.txt b/n.txt\n--- a/n.txt\n+++ b/n.txt\n@@ -0,0 +1 @@\n+if a < b\n"
    assert candidates(_file(patch), (0,), None) == []


@pytest.mark.parametrize("kind, delta", [("removed-guard", -2), ("inverted-condition", 0)])
def test_inject_rewrites_the_hunk_and_shifts_later_hunks(kind, delta):
    file = _file(PYTHON)
    injection = next(c for c in candidates(file, (0,), None) if c.kind == kind)
    change = inject(ChangeSet(source="t", files=(file,)), injection)
    hunks = change.files[0].hunks
    assert hunks[0].new_count == file.hunks[0].new_count + delta
    assert hunks[1].new_start == file.hunks[1].new_start + delta
    assert change.files[0].added == file.added + delta
    lines = [text for number, text in hunks[0].added()]
    if delta:
        assert "    if path is None:" not in lines
    else:
        assert dict(hunks[0].added())[injection.line] == injection.after[0]
