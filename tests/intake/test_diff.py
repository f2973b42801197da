from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartriage.errors import InputError
from cartriage.intake import parse_diff

GIT_DIFF = b"""\
diff --git a/app/models.py b/app/models.py
index 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644
--- a/app/models.py
+++ b/app/models.py
@@ -1,4 +1,5 @@ class User:
 import os
-x = 1
+x = 2
+y = 3
 z = 4
 w = 5
diff --git a/old name.txt b/new name.txt
similarity index 100%
rename from old name.txt
rename to new name.txt
diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000000000000000000000000000000000000..3333333333333333333333333333333333333333
Binary files /dev/null and b/logo.png differ
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/gone.py b/gone.py
deleted file mode 100644
index 4444444444444444444444444444444444444444..0000000000000000000000000000000000000000
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-print(1)
-print(2)
diff --git a/vendor/lib b/vendor/lib
index 5555555..6666666 160000
--- a/vendor/lib
+++ b/vendor/lib
@@ -1 +1 @@
-Subproject commit 5555555555555555555555555555555555555555
+Subproject commit 6666666666666666666666666666666666666666
"""


def test_git_diff_statuses_and_counts():
    files = {f.path: f for f in parse_diff(GIT_DIFF)}
    models = files["app/models.py"]
    assert models.status == "modified"
    assert (models.added, models.removed) == (2, 1)
    assert models.language == "python"
    assert models.old_blob == "1" * 40 and models.new_blob == "2" * 40
    hunk = models.hunks[0]
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (1, 4, 1, 5)
    assert hunk.section == "class User:"
    assert hunk.added() == [(2, "x = 2"), (3, "y = 3")]
    assert hunk.removed() == [(2, "x = 1")]

    renamed = files["new name.txt"]
    assert (renamed.status, renamed.old_path, renamed.similarity) == ("renamed", "old name.txt",
                                                                      100)
    assert renamed.hunks == ()

    logo = files["logo.png"]
    assert logo.status == "added" and logo.binary and logo.old_path is None

    script = files["run.sh"]
    assert script.status == "modified" and script.mode_changed
    assert (script.old_mode, script.new_mode) == ("100644", "100755")

    gone = files["gone.py"]
    assert gone.status == "deleted" and gone.removed == 2 and gone.new_blob is None

    sub = files["vendor/lib"]
    assert sub.submodule and sub.language is None


def test_crlf_no_newline_marker_and_invalid_utf8():
    patch = (b"diff --git a/a.txt b/a.txt\r\n"
             b"--- a/a.txt\r\n+++ b/a.txt\r\n"
             b"@@ -1,2 +1,2 @@\r\n"
             b" caf\xe9\r\n"
             b"-old\r\n"
             b"\\ No newline at end of file\r\n"
             b"+new\r\n"
             b"\\ No newline at end of file\r\n")
    (file,) = parse_diff(patch)
    hunk = file.hunks[0]
    assert hunk.lines[0] == " caf\ufffd"
    assert hunk.removed() == [(2, "old")] and hunk.added() == [(2, "new")]
    assert sum(line.startswith("\\") for line in hunk.lines) == 2
    assert (file.added, file.removed) == (1, 1)


def test_hunk_lines_that_look_like_headers_are_content():
    patch = (b"--- a/notes.sql\n+++ b/notes.sql\n@@ -1,2 +1,2 @@\n"
             b"--- old comment\n+++ new comment\n -- keep\n")
    (file,) = parse_diff(patch)
    assert file.path == "notes.sql" and file.status == "modified"
    assert file.hunks[0].removed() == [(1, "-- old comment")]
    assert file.hunks[0].added() == [(1, "++ new comment")]


def test_format_patch_mail_is_read_past_its_headers_and_signature():
    mail = b"""\
From 3f2c Mon Sep 17 00:00:00 2001
From: A Dev <a@example.com>
Subject: [PATCH] Fix the login check

---
 auth.py | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/auth.py b/auth.py
--- a/auth.py
+++ b/auth.py
@@ -1 +1 @@
-ok = user.admin
+ok = user.admin and user.active
--
2.39.5

"""
    (file,) = parse_diff(mail)
    assert file.path == "auth.py" and (file.added, file.removed) == (1, 1)


def test_plain_diff_u_with_timestamps_and_new_file():
    patch = (b"--- /dev/null\t2024-01-01 00:00:00\n+++ b/new.go\t2024-01-02 00:00:00\n"
             b"@@ -0,0 +1,2 @@\n+package main\n+func main() {}\n")
    (file,) = parse_diff(patch)
    assert (file.path, file.status, file.language, file.added) == ("new.go", "added", "go", 2)


def test_quoted_paths_are_unquoted():
    patch = (b'diff --git "a/caf\\303\\251 menu.txt" "b/caf\\303\\251 menu.txt"\n'
             b'--- "a/caf\\303\\251 menu.txt"\n+++ "b/caf\\303\\251 menu.txt"\n'
             b"@@ -1 +1 @@\n-a\n+b\n")
    (file,) = parse_diff(patch)
    assert file.path == "caf\u00e9 menu.txt"


def test_empty_input_is_no_files():
    assert parse_diff(b"") == ()
    assert parse_diff(b"just some text, no diff\n") == ()


@pytest.mark.parametrize(
    ("patch", "line"),
    [
        (b"--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\nnot a diff line\n", "line 6"),
        (b"--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n", "line 4"),
        (b"--- a/x\n+++ b/x\n@@ -one +1 @@\n", "line 3"),
    ],
)
def test_malformed_patches_name_the_line(patch, line):
    with pytest.raises(InputError, match=line):
        parse_diff(patch, "p.diff")


def test_hunk_without_file_header_is_malformed():
    with pytest.raises(InputError, match="no file header"):
        parse_diff(b"@@ -1 +1 @@\n-a\n+b\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\xc3\xa9", b"\xc3", b"\xe2\x82", b"\xff",
                                 b"\x80", b"\xf0\x9f\x98\x80"]), max_size=40).map(b"".join),
       st.integers(1, 8))
def test_lines_are_decoded_in_chunks_as_the_whole_would_be(data, chunk):
    from cartriage.intake.diff import _lines

    assert _lines(data, chunk) == data.decode("utf-8", errors="replace").split("\n")
