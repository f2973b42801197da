"""The new side's sources kept in `.git/cartriage/` and updated from the tree diff: always the
same as read whole from git."""

from __future__ import annotations

import pickle
from pathlib import Path

from cartriage.analysis import fanin
from cartriage.context import sources
from cartriage.intake.change import ChangeSet


def read(repo, rev: str, files: dict | None = None):
    return sources.read(ChangeSet("test", repo_root=str(repo.path), new_rev=rev),
                        {} if files is None else files)


def kept(repo) -> Path:
    return fanin.cache_folder(str(repo.path)) / sources.FILE


def whole(repo, rev: str):
    """What is read with nothing kept."""
    kept(repo).unlink(missing_ok=True)
    files: dict = {}
    return read(repo, rev, files), files


def test_a_commit_read_from_the_kept_one_equals_it_read_whole(repo):
    first = repo.commit("base", {
        "a.py": "def net(x):\n    return x\n", "a/b.py": "net(1)\n", "c.js": "net(2);\n",
        "gone.py": "net\n", "notes.txt": "net\n", "bin.py": b"net\0\n", "z/y.go": "net\n"})
    read(repo, first)
    assert pickle.loads(kept(repo).read_bytes())[0] == first
    repo.git("rm", "-q", "gone.py")
    second = repo.commit("change", {
        "a.py": "def net(x, y):\n    return x + y\n", "a-b.py": "net(3)\n", "a0.py": "net\n",
        "notes.txt": "net(4)\n", "bin.py": "net(5)\n", "new/\u00e9t\u00e9.py": "net\n",
        "c.js": b"\0net\n"})
    for rev in (second, first, second):  # from the kept commit, both ways
        files: dict = {}
        updated = read(repo, rev, files)
        assert pickle.loads(kept(repo).read_bytes())[0] == rev
        expected, expected_files = whole(repo, rev)
        assert updated == expected
        assert files == expected_files
    assert updated.paths == ["a-b.py", "a.py", "a/b.py", "a0.py", "bin.py",
                             "new/\u00e9t\u00e9.py", "z/y.go"]
    assert updated.naming("net", 20) == updated.paths


def test_a_kept_file_that_cannot_be_used_is_read_again(repo):
    first = repo.commit("base", {"a.py": "net = 1\n"})
    kept(repo).parent.mkdir(parents=True, exist_ok=True)
    kept(repo).write_bytes(b"not a pickle")
    assert read(repo, first).paths == ["a.py"]
    kept(repo).write_bytes(pickle.dumps(("0" * 40, [("a.py", "0" * 40, b"stale\n")])))
    second = repo.commit("change", {"b.py": "net = 2\n"})
    assert read(repo, second).text == b"net = 1\n\nnet = 2\n\n"  # the kept commit is unknown
    assert read(repo, "HEAD").paths == ["a.py", "b.py"]  # a name, not a sha: not kept
    assert pickle.loads(kept(repo).read_bytes())[0] == second


def test_kept_rows_of_another_shape_or_languages_are_read_again(repo):
    """A kept file whose rows are not (path, blob, contents), or whose files another cartriage
    chose (other extensions known), is not used: the sources are read whole, no traceback."""
    first = repo.commit("base", {"a.py": "net = 1\n", "k.go": "net\n"})
    kept(repo).parent.mkdir(parents=True, exist_ok=True)
    kept(repo).write_bytes(pickle.dumps((first, [("a.py", "0" * 40)], sources._selection())))
    assert read(repo, first).paths == ["a.py", "k.go"]
    kept(repo).write_bytes(pickle.dumps(
        (first, [("a.py", "0" * 40, b"net = 1\n")], [".py"])))  # chosen knowing no Go
    assert read(repo, first).paths == ["a.py", "k.go"]
    assert pickle.loads(kept(repo).read_bytes())[2] == sources._selection()


def test_past_max_words_the_searches_go_on_through_the_text(repo, monkeypatch):
    first = repo.commit("base", {"a.py": "net = 1\nother_word = net\n", "b.py": "x = 2\n",
                                 "c.py": "def net():\n    pass\n"})
    expected = read(repo, first)
    answer = (expected.naming("net", 5), expected.lines_using("net"))  # through the text
    assert expected.using is None and answer[0] == ["a.py", "c.py"]
    for cap, indexed in ((2, False), (100, True)):
        monkeypatch.setattr(sources, "MAX_WORDS", cap)
        found = read(repo, first)
        found.searches = sources.WORD_INDEX_AFTER  # the next search would collect the words
        assert (found.naming("net", 5), found.lines_using("net")) == answer
        assert (found.using is not None, found.unindexed) == (indexed, not indexed)
