from __future__ import annotations

from pathlib import Path

import pytest

from cartriage import config as configuration
from cartriage.errors import InputError, UsageError
from cartriage.intake import ChangeRequest, read_blob, read_change
from cartriage.intake.change import INDEX, WORKTREE
from cartriage.intake.git import EMPTY_TREE


def change_of(repo, **request):
    return read_change(ChangeRequest(repo=repo.path, **request),
                       configuration.load(cwd=repo.path))


def by_path(change):
    return {f.path: f for f in change.files}


def test_root_commit_is_reviewed_against_the_empty_tree(repo):
    root = repo.commit("Initial import\n\nThe first files.", {"a.py": "x = 1\n"})
    change = change_of(repo, rev="HEAD~1")
    assert change.old_rev == EMPTY_TREE and change.new_rev == root
    assert by_path(change)["a.py"].status == "added"
    assert (change.title, change.description) == ("Initial import", "The first files.")
    assert read_blob(change, "a.py", "new") == b"x = 1\n"
    assert read_blob(change, "a.py", "old") is None


def test_default_is_the_last_commit_and_rev_means_up_to_head(repo):
    repo.commit("one", {"a.py": "a = 1\n"})
    repo.commit("two", {"b.py": "b = 1\n"})
    repo.commit("three", {"c.py": "c = 1\n"})
    assert set(by_path(change_of(repo))) == {"c.py"}
    change = change_of(repo, rev="HEAD~2")
    assert set(by_path(change)) == {"b.py", "c.py"}
    assert change.title == "three" and "two" in change.description


def test_two_and_three_dot_ranges(repo):
    base = repo.commit("base", {"a.py": "a = 1\n"})
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("feature work", {"f.py": "f = 1\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main work", {"m.py": "m = 1\n"})
    two = change_of(repo, rev="main..feature")
    assert set(by_path(two)) == {"f.py", "m.py"}  # m.py is removed on the feature side
    assert by_path(two)["m.py"].status == "deleted"
    three = change_of(repo, rev="main...feature")
    assert set(by_path(three)) == {"f.py"} and three.old_rev == base


def test_merge_commit_is_diffed_against_its_first_parent(repo):
    repo.commit("base", {"a.py": "a = 1\n"})
    repo.git("checkout", "-q", "-b", "topic")
    repo.commit("topic", {"t.py": "t = 1\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main", {"m.py": "m = 1\n"})
    repo.git("merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
    change = change_of(repo, rev="HEAD^!")
    assert set(by_path(change)) == {"t.py"}
    assert change.title == "Merge topic"


def test_renames_binary_modes_and_deletions(repo):
    body = "".join(f"line {i}\n" for i in range(30))
    other = body.replace("line", "row")
    repo.commit("base", {"keep.txt": body, "edit_me.txt": other, "gone.py": "print(1)\n",
                         "run.sh": "echo hi\n"})
    repo.git("mv", "keep.txt", "kept.txt")
    repo.git("mv", "edit_me.txt", "edited.txt")
    repo.write("edited.txt", other.replace("row 3\n", "row three\n"))
    repo.git("rm", "-q", "gone.py")
    repo.write("logo.png", bytes(range(256)) * 4)
    (repo.path / "run.sh").chmod(0o755)
    repo.commit("reshuffle")
    files = by_path(change_of(repo, rev="HEAD~1"))
    assert files["kept.txt"].status == "renamed" and files["kept.txt"].hunks == ()
    assert files["edited.txt"].status == "renamed" and files["edited.txt"].old_path == \
        "edit_me.txt"
    assert (files["edited.txt"].added, files["edited.txt"].removed) == (1, 1)
    assert files["gone.py"].status == "deleted"
    assert files["logo.png"].binary and files["logo.png"].status == "added"
    assert files["run.sh"].mode_changed and files["run.sh"].hunks == ()


def test_latin1_source_and_non_ascii_path(repo):
    repo.commit("base", {"caf\u00e9.py": b"name = 'caf\xe9'\n"})
    repo.write("caf\u00e9.py", b"name = 'th\xe9'\n")
    repo.commit("latin-1 edit")
    (file,) = change_of(repo, rev="HEAD~1").files
    assert file.path == "caf\u00e9.py"
    assert file.hunks[0].added() == [(1, "name = 'th\ufffd'")]


def test_staged_and_worktree(repo):
    repo.commit("base", {"a.py": "a = 1\n"})
    repo.write("a.py", "a = 2\n")
    repo.git("add", "a.py")
    repo.write("b.py", "b = 1\n")  # untracked: part of the working tree's changes
    staged = change_of(repo, staged=True)
    assert staged.new_rev == INDEX and set(by_path(staged)) == {"a.py"}
    assert read_blob(staged, "a.py", "new") == b"a = 2\n"
    assert read_blob(staged, "a.py", "old") == b"a = 1\n"
    worktree = change_of(repo, worktree=True)
    assert worktree.new_rev == WORKTREE and set(by_path(worktree)) == {"a.py", "b.py"}
    assert read_blob(worktree, "b.py", "new") == b"b = 1\n"


def test_empty_change_has_no_files(repo):
    repo.commit("base", {"a.py": "a = 1\n"})
    repo.commit("empty")
    assert change_of(repo, rev="HEAD~1").files == ()


def test_ignored_files_are_set_aside(repo):
    repo.commit("base", {"a.py": "a = 1\n"})
    repo.commit("deps", {"poetry.lock": "x\n", "web/vendor/lib.js": "y\n", "a.py": "a = 2\n"})
    change = change_of(repo, rev="HEAD~1")
    assert set(by_path(change)) == {"a.py"}
    assert set(change.ignored) == {"poetry.lock", "web/vendor/lib.js"}


def test_message_overrides_title_and_description(repo):
    repo.commit("base", {"a.py": "a = 1\n"})
    repo.commit("edit", {"a.py": "a = 2\n"})
    change = change_of(repo, rev="HEAD~1", message="Fix billing\n\nRounds cents correctly.")
    assert (change.title, change.description) == ("Fix billing", "Rounds cents correctly.")


def test_errors(repo, tmp_path: Path):
    repo.commit("base", {"a.py": "a = 1\n"})
    with pytest.raises(InputError, match="unknown revision: 'nope'"):
        change_of(repo, rev="nope")
    with pytest.raises(InputError, match="unknown revision"):
        change_of(repo, rev="HEAD~5")
    with pytest.raises(UsageError, match="not REV and --staged"):
        change_of(repo, rev="HEAD", staged=True)
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(InputError, match="not a git repository"):
        read_change(ChangeRequest(repo=outside), configuration.load(cwd=outside))
    with pytest.raises(InputError, match="no such file"):
        read_change(ChangeRequest(repo=outside, diff=str(outside / "missing.diff")),
                    configuration.load(cwd=outside))


def test_diff_file_outside_a_repository_and_issue(tmp_path: Path):
    patch = tmp_path / "change.diff"
    patch.write_bytes(b"--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n")
    issue = tmp_path / "issue.md"
    issue.write_text("Login fails for SSO users\n", encoding="utf-8")
    config = configuration.load(cwd=tmp_path)
    change = read_change(ChangeRequest(repo=tmp_path, diff=str(patch), issue=str(issue)), config)
    assert change.repo_root is None and [f.path for f in change.files] == ["x.py"]
    assert change.issue == "Login fails for SSO users"
    assert read_blob(change, "x.py", "new") is None
    alone = read_change(ChangeRequest(repo=tmp_path, issue=str(issue)), config)
    assert alone.files == () and alone.issue.startswith("Login")


def test_submodule_bump(repo, tmp_path: Path):
    library = type(repo)(tmp_path / "library")  # conftest's GitRepo (the name `conftest` is
    # ambiguous once tests/review and tests/report conftests are collected)
    library.commit("v1", {"lib.py": "x = 1\n"})
    repo.commit("base", {"a.py": "a = 1\n"})
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library.path),
             "vendored/lib")
    repo.commit("add the library")
    library.commit("v2", {"lib.py": "x = 2\n"})
    repo.git("-C", "vendored/lib", "-c", "protocol.file.allow=always", "pull", "-q")
    repo.git("add", "vendored/lib")
    repo.commit("bump the library")
    files = by_path(change_of(repo, rev="HEAD~1"))
    assert files["vendored/lib"].submodule and files["vendored/lib"].status == "modified"


def test_first_parent_changes_read_each_commit_as_its_own_range(repo):
    from cartriage.intake import first_parent_changes

    root = repo.commit("root", {"app/a.py": "x = 1\n"})
    repo.commit("edit a", {"app/a.py": "x = 2\n", "app/b.py": "y = 1\n"})
    repo.git("checkout", "-q", "-b", "topic")
    repo.commit("topic work", {"app/c.py": "z = 1\n", "app/b.py": "y = 2\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main work", {"app/d.py": "w = 1\n"})
    repo.git("merge", "-q", "--no-ff", "-m", "Merge topic\n\nWith a body.", "topic")
    repo.commit("empty")
    repo.commit("rename", {"app/e.py": "w = 1\n"})
    repo.git("rm", "-q", "app/d.py")
    repo.commit("delete d")
    settings = configuration.load(cwd=repo.path, env={})
    streamed = list(first_parent_changes(repo.path, f"{root}..HEAD", settings))
    shas = repo.git("rev-list", "--first-parent", "--reverse", f"{root}..HEAD").split()
    assert [c.new_rev for c in streamed] == shas and len(shas) == 6
    for change, sha in zip(streamed, shas, strict=True):
        assert change == read_change(ChangeRequest(repo=repo.path, rev=f"{sha}^!"), settings)
    merge = streamed[2]
    assert merge.title == "Merge topic" and {f.path for f in merge.files} == {"app/b.py",
                                                                               "app/c.py"}
