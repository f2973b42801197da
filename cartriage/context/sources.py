"""The source files at a change's new side as one text, to find the files and the lines using a
word as `git grep -w` would, without its cost (`git grep` inflates every blob again per word).

The last commit's source files are kept in `.git/cartriage/` (`FILE`); a plan of another
commit starts from them and reads only the files the tree diff between the two changed. A new
commit on a planned parent so reads its 20 changed files, not the tree's 1,300 sources.

Contract: `read(change, files) -> Sources | None`; each file read is also put in `files` under
("source", path) as (blob sha, contents).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from cartriage.intake.change import ChangeSet

FILE = "sources-v2.pickle"  # the last commit's source files; bump when the shape changes
MAX_BYTES = 64_000_000  # of source text searched in memory (else `git grep`)
MAX_CHANGED = 2_000  # source files changed since the kept commit, beyond which all are read
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_WORD_ENDS = frozenset(bytes([b]) for b in _WORD_BYTES)  # one-byte slices, after a word
_WORD_CHARS = bytes(sorted(_WORD_BYTES))
_NOT_WORD = bytes(b if b in _WORD_BYTES else 32 for b in range(256))  # other bytes: spaces
WORD_INDEX_AFTER = 32  # searches of the text, beyond which each file's words are collected
# Distinct words the index may hold: an identifier-dense generated file can make the index many
# times its text; past this the searches go on through the text.
MAX_WORDS = 250_000  # netbox: 61,229


@dataclass
class Sources:
    """Every source file (a tree-sitter grammar's extension, not binary) as one text."""

    paths: list[str]
    starts: list[int]  # of each file in `text`
    text: bytes  # the files, each followed by a newline
    searches: int = field(default=0, compare=False)
    using: dict[bytes, list[int]] | None = field(default=None, compare=False)  # word: files
    unindexed: bool = field(default=False, compare=False)  # past MAX_WORDS: never indexed

    def naming(self, name: str, limit: int) -> list[str]:
        """The first `limit` files with `name` as a word, in path order (`git grep -w -l`)."""
        word = name.encode()
        files = self._files_using(word)
        if files is not None:
            return [self.paths[i] for i in files[:limit]]
        found, position = [], 0
        while len(found) < limit and (start := self._word(word, position)) >= 0:
            i = bisect.bisect_right(self.starts, start) - 1
            found.append(self.paths[i])
            position = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.text)
        return found

    def lines_using(self, name: str) -> list[str]:
        """"path\0line\0text" for each line using `name` as a word, in path and line order
        (as `git grep -n -w` prints them)."""
        word, text = name.encode(), self.text
        files = self._files_using(word)
        spans = [(0, len(text))] if files is None else [
            (self.starts[i], self.starts[i + 1] if i + 1 < len(self.starts) else len(text))
            for i in files]
        rows: list[str] = []
        file, counted, number = -1, 0, 0
        for position, end in spans:
            while (start := self._word(word, position, end)) >= 0:
                line_start = text.rfind(b"\n", 0, start) + 1
                line_end = text.find(b"\n", start + len(word))
                i = bisect.bisect_right(self.starts, start) - 1
                if i != file:  # line numbers counted on from the last hit in the same file
                    file, counted, number = i, self.starts[i], 1
                number += text.count(b"\n", counted, line_start)
                counted = line_start
                line = text[line_start:line_end].decode("utf-8", "replace").removesuffix("\r")
                rows.append(f"{self.paths[i]}\0{number}\0{line}")
                position = line_end + 1
        return rows

    def _files_using(self, word: bytes) -> list[int] | None:
        """The files (indexes, in path order) using `word`, from each file's words once more
        than WORD_INDEX_AFTER searches were made (collecting them costs about as many
        searches of the text); None before, or for a `word` that is not one word."""
        self.searches += 1
        if self.unindexed or (self.using is None and self.searches <= WORD_INDEX_AFTER):
            return None
        if not word or word.translate(None, _WORD_CHARS):  # empty, or not only word bytes
            return None
        if self.using is None:
            self.using = _index(self.text, self.starts)
            self.unindexed = self.using is None
            if self.using is None:
                return None
        return self.using.get(word, [])

    def _word(self, word: bytes, position: int, end: int | None = None) -> int:
        """Where `word` next stands as a word from `position` (before `end`; `git grep -w`:
        not next to an ASCII letter, digit or underscore), or -1."""
        text = self.text
        while (start := text.find(word, position, end)) >= 0:  # a plain find, not a regex
            after = start + len(word)
            if not ((start and text[start - 1] in _WORD_BYTES)
                    or text[after:after + 1] in _WORD_ENDS):
                return start
            position = start + 1
        return -1


def _index(text: bytes, starts: list[int]) -> dict[bytes, list[int]] | None:
    """Each word: the files (indexes) using it; None past MAX_WORDS distinct words."""
    using: dict[bytes, list[int]] = {}
    ends = [*starts[1:], len(text)]
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        for each in set(text[start:end].translate(_NOT_WORD).split()):
            using.setdefault(each, []).append(i)
        if len(using) > MAX_WORDS:
            return None
    return using


def read(change: ChangeSet, files: dict) -> Sources | None:
    """The sources at the change's new side, each also kept in `files` under ("source", path);
    None for the working tree, for the index (its listing has no sizes: nothing is read before
    knowing it fits) or past MAX_BYTES."""
    from cartriage.intake.change import WORKTREE

    if change.repo_root is None or change.new_rev in (None, WORKTREE):
        return None
    try:
        tree = _tree(change.repo_root, change.new_rev)
    except OSError:
        return None
    if tree is None:
        return None
    paths, starts, parts, at = [], [], [], 0
    for path, blob, data in tree:
        files[("source", path)] = (blob, data)
        if data.find(b"\0", 0, 8000) >= 0:  # binary, as `git grep -I` finds (.gitattributes aside)
            continue
        paths.append(path)
        starts.append(at)
        parts.append(data)
        at += len(data) + 1
    return Sources(paths, starts, b"\n".join(parts) + b"\n")


def _tree(repo_root: str, rev: str) -> list[tuple[str, str, bytes]] | None:
    """(path, blob sha, contents) of every source file at `rev`, in `git ls-tree` order, or
    None past MAX_BYTES (or for the index). A commit's are kept on disk: the next commit read
    starts from them."""
    from cartriage.analysis import fanin

    commit = len(rev) == 40 and not rev.strip("0123456789abcdef")  # a sha, not a name
    folder = fanin.cache_folder(repo_root) if commit else None
    kept = _load(folder / FILE) if folder else None
    if kept is not None and kept[0] == rev:
        return kept[1]
    tree = _updated(repo_root, kept, rev) if kept is not None else None
    if tree is None:
        tree = _whole(repo_root, rev)
    if tree is not None and folder is not None:
        _save(folder / FILE, (rev, tree, _selection()))
    return tree


def _selection() -> list[str]:
    """What selects the kept files (the extensions with a grammar): kept sources chosen by
    another cartriage, knowing other languages, are read again."""
    from cartriage.analysis import languages

    return languages.extensions()


def _whole(repo_root: str, rev: str) -> list[tuple[str, str, bytes]] | None:
    from cartriage.analysis import fanin, languages

    listed = [(p, blob, size) for p, blob, size in fanin.list_tree(repo_root, rev)
              if languages.detect(p)]
    if any(size is None for _, _, size in listed) or sum(
            size for _, _, size in listed) > MAX_BYTES:
        return None
    blobs = fanin.read_blobs(repo_root, sorted({blob for _, blob, _ in listed}))
    return [(path, blob, blobs[blob]) for path, blob, _ in listed if blob in blobs]


def _updated(repo_root: str, kept: tuple[str, list], rev: str
             ) -> list[tuple[str, str, bytes]] | None:
    """The kept commit's sources with the source files changed from it to `rev` read again
    (`git diff-tree`, no rename detection), in `git ls-tree` order (paths by their bytes);
    None when too many changed (then all are read) or past MAX_BYTES."""
    from cartriage.analysis import fanin, languages
    from cartriage.intake import git

    old_rev, old_tree = kept
    try:
        out = git.git(repo_root, "diff-tree", "-r", "-z", "--no-renames", old_rev, rev)
    except git.GitError:  # the kept commit is gone (garbage collected): all are read
        return None
    fields = out.split(b"\0")
    changed: dict[str, str | None] = {}  # path: its new blob, None when gone (or no blob)
    for meta, raw in zip(fields[0:-1:2], fields[1::2], strict=False):
        path = raw.decode("utf-8", errors="replace")
        if languages.detect(path):
            _old_mode, new_mode, _old, new, _status = meta.lstrip(b":").split()
            changed[path] = None if new_mode in (b"000000", b"160000") else new.decode()
    if len(changed) > MAX_CHANGED:
        return None
    blobs = fanin.read_blobs(repo_root, sorted({b for b in changed.values() if b}))
    tree = {path: (blob, data) for path, blob, data in old_tree if path not in changed}
    tree.update({path: (blob, blobs[blob]) for path, blob in changed.items()
                 if blob in blobs})
    if sum(len(data) for _, data in tree.values()) > MAX_BYTES:
        return None
    return [(path, *tree[path]) for path in sorted(tree, key=_path_bytes)]


def _path_bytes(path: str) -> bytes:
    return path.encode("utf-8", errors="surrogateescape")


def _save(path: Path, kept: tuple[str, list, list[str]]) -> None:
    """Replace the kept sources atomically, streamed to disk; a read-only repository still
    works, it is just not kept."""
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as file:
            pickle.dump(kept, file, protocol=5)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _load(path: Path) -> tuple[str, list] | None:
    """The kept (commit, sources), or None when there are none, they cannot be read, or were
    selected by other languages than this cartriage knows."""
    try:
        with path.open("rb") as file:  # streamed: no second copy of the text in memory
            kept = pickle.load(file)
    except Exception:  # noqa: BLE001 - a cache that cannot be read is read again from git
        return None
    if not (isinstance(kept, tuple) and len(kept) == 3 and isinstance(kept[0], str)
            and isinstance(kept[1], list) and kept[2] == _selection()
            and all(isinstance(row, tuple) and len(row) == 3 and isinstance(row[0], str)
                    and isinstance(row[1], str) and isinstance(row[2], bytes)
                    for row in kept[1])):
        return None
    return kept[0], kept[1]
