"""Reading a change from a git repository, through the `git` command.

Plain `git` subprocesses rather than GitPython (no longer a dependency): a plan needs a
handful of plumbing commands (`rev-parse`, `diff`, `log`, `cat-file`), which GitPython runs as
subprocesses too, after an import of about 85 ms CPU; opening a repository and resolving a
revision costs twice as much through it, and reading a batch's commits with it twice as much
as one `git log -p` stream (benchmarks/bench_gitpython.py, docs/speed.md).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cartriage.errors import InputError, UsageError
from cartriage.intake.change import INDEX, WORKTREE

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "--full-index", "-M",
                 "--src-prefix=a/", "--dst-prefix=b/", "--submodule=short", "--unified=3")
_RECORD = b"\0\1"  # starts each commit of `first_parent_log` (messages hold no NUL)
_ANCESTRY = re.compile(r"^(.+?)((?:[~^]\d*)+)$")


@dataclass(frozen=True)
class Range:
    """Two sides of a diff, a description of them, and the commits whose messages explain it."""

    old: str
    new: str
    source: str
    log_range: str | None


class GitError(Exception):
    """A git command exited non-zero; `stderr` is what it said."""

    def __init__(self, stderr: bytes):
        super().__init__(_first_line(stderr))
        self.stderr = stderr


def git(root: str | Path, *args: str) -> bytes:
    """Run `git ARGS` in `root` and return its output; GitError when it fails."""
    try:
        done = subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=root,
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise InputError("git is not installed or not on PATH") from None
    if done.returncode != 0:
        raise GitError(done.stderr)
    return done.stdout


def open_repo(folder: Path) -> str:
    """The root of the work tree containing `folder`; InputError when there is none."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    try:
        return git(folder, "rev-parse", "--show-toplevel").decode("utf-8", "surrogateescape") \
            .rstrip("\n")
    except GitError:
        raise InputError(f"not a git repository: {folder.resolve()} "
                         "(use --diff FILE to review a patch)") from None


def resolve(repo, rev: str | None, staged: bool, worktree: bool) -> Range:
    """Turn REV, A..B, A...B, REV^!, --staged or --worktree into the two sides of a diff."""
    if staged:
        head = _commit_or_none(repo, "HEAD")
        return Range(head or EMPTY_TREE, INDEX, "staged changes (index against HEAD)", None)
    if worktree:
        head = _commit_or_none(repo, "HEAD")
        return Range(head or EMPTY_TREE, WORKTREE, "uncommitted changes (working tree against "
                     "HEAD)", None)
    if rev is None:
        rev, default = "HEAD~1", " (the last commit)"
    else:
        default = ""
    if rev.endswith("^!"):
        new = _commit(repo, rev[:-2])
        old = _first_parent(repo, new)
        return Range(old, new, f"{rev[:-2]} (one commit)", _log_range(old, new))
    if "..." in rev:
        left, right = rev.split("...", 1)
        new = _commit(repo, right or "HEAD")
        try:
            old = git(repo, "merge-base", _commit(repo, left or "HEAD"), new).decode().split()[0]
        except (GitError, IndexError):
            raise InputError(f"{rev}: the two sides have no common ancestor") from None
        return Range(old, new, f"{rev} (from the merge base {old[:9]})", f"{old}..{new}")
    if ".." in rev:
        left, right = rev.split("..", 1)
        old, new = _commit(repo, left or "HEAD"), _commit(repo, right or "HEAD")
        return Range(old, new, rev, f"{old}..{new}")
    new = _commit(repo, "HEAD")
    old = _commit_or_root_parent(repo, rev)
    return Range(old, new, f"{rev}..HEAD{default}", _log_range(old, new))


def _log_range(old: str, new: str) -> str:
    """The revisions `git log` lists for the range; from the empty tree: all of `new`'s history
    (for a root commit, just itself)."""
    return new if old == EMPTY_TREE else f"{old}..{new}"


def _commit(repo, rev: str) -> str:
    sha = _commit_or_none(repo, rev)
    if sha is None:
        raise InputError(f"unknown revision: {rev!r}")
    return sha


def _commit_or_none(repo, rev: str) -> str | None:
    if rev.startswith("-"):
        raise UsageError(f"bad revision {rev!r}")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                   f"{rev}^{{commit}}").decode().strip()
    except GitError:
        return None


def _commit_or_root_parent(repo, rev: str) -> str:
    """Like _commit, but the parent of the root commit is the empty tree (`HEAD~1` there)."""
    sha = _commit_or_none(repo, rev)
    if sha is not None:
        return sha
    match = _ANCESTRY.match(rev)
    if match:
        base = _commit_or_none(repo, match.group(1))
        if base is not None:
            steps = sum(int(part[1:] or 1) for part in re.findall(r"[~^]\d*", match.group(2)))
            count = git(repo, "rev-list", "--first-parent", "--count",
                        f"--max-count={steps + 1}", base)
            if int(count) == steps:
                return EMPTY_TREE
    raise InputError(f"unknown revision: {rev!r}")


def _first_parent(repo, sha: str) -> str:
    parents = git(repo, "rev-list", "--parents", "--max-count=1", sha).decode().split()[1:]
    return parents[0] if parents else EMPTY_TREE


def diff_bytes(repo, span: Range) -> bytes:
    """The unified diff for a range, as bytes (never decoded: sources may not be UTF-8)."""
    args = ["diff", *_DIFF_OPTIONS]
    if span.new == INDEX:
        args += ["--cached", span.old]
    elif span.new == WORKTREE:
        args += [span.old]
    else:
        args += [span.old, span.new]
    args.append("--")
    try:
        data = git(repo, *args)
    except GitError as exc:
        raise InputError(f"git diff failed: {exc}") from None
    if span.new == WORKTREE:
        data += _untracked(repo)
    return data


def _untracked(repo) -> bytes:
    """Diffs that add the untracked, not ignored files: they are uncommitted changes too."""
    out = []
    listed = git(repo, "ls-files", "-z", "--others", "--exclude-standard")
    for path in listed.decode("utf-8", "surrogateescape").split("\0"):
        if not path:
            continue
        # `git diff --no-index` exits 1 when there are differences, so run it directly.
        done = subprocess.run(
            ["git", "-c", "core.quotePath=false", "diff", "--no-index", *_DIFF_OPTIONS, "--",
             "/dev/null", path], cwd=repo, capture_output=True, check=False)
        if done.returncode in (0, 1):
            out.append(done.stdout)
    return b"".join(out)


def messages(repo, span: Range) -> list[str]:
    """Full commit messages in the range, newest first (first parents only)."""
    if span.log_range is None:
        return []
    text = git(repo, "-c", "i18n.logOutputEncoding=UTF-8", "log", "--first-parent",
               "--format=%B%x00", span.log_range, "--").decode("utf-8", errors="replace")
    return [message.lstrip("\n") for message in text.split("\0")[:-1]]


def first_parent_log(repo, span: str) -> Iterator[tuple[str, str, str, bytes]]:
    """(sha, first parent or EMPTY_TREE, message, diff) of each first-parent commit of A..B,
    oldest first, from one `git log -p` stream read as it comes: the diff of each commit
    against its first parent, as `diff_bytes` gives it."""
    left, right = span.split("..", 1)
    old, new = _commit(repo, left or "HEAD"), _commit(repo, right or "HEAD")
    command = ["git", "-c", "core.quotePath=false", "-c", "i18n.logOutputEncoding=UTF-8", "log",
               "--first-parent", "--diff-merges=first-parent", "--reverse", "-p",
               *_DIFF_OPTIONS, "--format=%x00%x01%H %P%x00%B%x00", f"{old}..{new}", "--"]
    with subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        buffer = bytearray()
        for chunk in iter(lambda: process.stdout.read(1 << 16), b""):
            start = max(0, len(buffer) - 1)  # a marker may straddle two chunks
            buffer += chunk
            while (end := buffer.find(_RECORD, start)) >= 0:
                record, start = bytes(buffer[:end]), 0
                del buffer[:end + len(_RECORD)]
                if record:
                    yield _logged(record)
        if buffer:
            yield _logged(bytes(buffer))
        error = process.stderr.read() if process.stderr else b""
    if process.returncode != 0:
        raise InputError(f"git log failed: {_first_line(error)}")


def _logged(record: bytes) -> tuple[str, str, str, bytes]:
    header, message, diff = record.split(b"\0", 2)
    sha, *parents = header.decode().split()
    return (sha, parents[0] if parents else EMPTY_TREE,
            message.decode("utf-8", errors="replace"), diff.lstrip(b"\n"))


def read_blob(repo_root: str, rev: str, path: str, blob: str | None = None) -> bytes | None:
    """File contents at a side of the change: a commit, the index or the working tree."""
    if rev == WORKTREE:
        file = Path(repo_root) / path
        return file.read_bytes() if file.is_file() else None
    spec = blob or (f":{path}" if rev == INDEX else f"{rev}:{path}")
    try:
        return git(repo_root, "cat-file", "blob", spec)
    except GitError:
        return None


def _first_line(text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'") for line in lines]
    return lines[0] if lines else "unknown error"
