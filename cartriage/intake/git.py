"""Reading a change from a git repository (GitPython for the repository, `git diff` for patches)."""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cartriage.errors import InputError, UsageError
from cartriage.intake.change import INDEX, WORKTREE

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "--full-index", "-M",
                 "--src-prefix=a/", "--dst-prefix=b/", "--submodule=short", "--unified=3")
_ANCESTRY = re.compile(r"^(.+?)((?:[~^]\d*)+)$")


@dataclass(frozen=True)
class Range:
    """Two sides of a diff, a description of them, and the commits whose messages explain it."""

    old: str
    new: str
    source: str
    log_range: str | None


def open_repo(folder: Path):
    """The GitPython Repo containing `folder`; InputError when there is none."""
    import git

    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    try:
        return _repo(str(folder.resolve()))
    except git.InvalidGitRepositoryError:
        raise InputError(f"not a git repository: {folder.resolve()} "
                         "(use --diff FILE to review a patch)") from None
    except git.GitCommandNotFound:
        raise InputError("git is not installed or not on PATH") from None


@functools.lru_cache(maxsize=8)
def _repo(folder: str):
    import git

    return git.Repo(folder, search_parent_directories=True)


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
        base = repo.merge_base(_commit(repo, left or "HEAD"), new)
        if not base:
            raise InputError(f"{rev}: the two sides have no common ancestor")
        old = base[0].hexsha
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
    import git

    if rev.startswith("-"):
        raise UsageError(f"bad revision {rev!r}")
    try:
        return repo.git.rev_parse("--verify", "--quiet", "--end-of-options",
                                  f"{rev}^{{commit}}")
    except git.GitCommandError:
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
            if len(list(repo.iter_commits(base, first_parent=True, max_count=steps + 1))) == steps:
                return EMPTY_TREE
    raise InputError(f"unknown revision: {rev!r}")


def _first_parent(repo, sha: str) -> str:
    parents = repo.commit(sha).parents
    return parents[0].hexsha if parents else EMPTY_TREE


def diff_bytes(repo, span: Range) -> bytes:
    """The unified diff for a range, as bytes (never decoded: sources may not be UTF-8)."""
    import git

    args = ["-c", "core.quotePath=false", "diff", *_DIFF_OPTIONS]
    if span.new == INDEX:
        args += ["--cached", span.old]
    elif span.new == WORKTREE:
        args += [span.old]
    else:
        args += [span.old, span.new]
    args.append("--")
    try:
        data = repo.git.execute(["git", *args], stdout_as_string=False,
                                strip_newline_in_stdout=False)
    except git.GitCommandError as exc:
        raise InputError(f"git diff failed: {_first_line(exc.stderr)}") from None
    if span.new == WORKTREE:
        data += _untracked(repo)
    return data


def _untracked(repo) -> bytes:
    """Diffs that add the untracked, not ignored files: they are uncommitted changes too."""
    out = []
    for path in repo.untracked_files:
        # `git diff --no-index` exits 1 when there are differences, so run it directly.
        done = subprocess.run(
            ["git", "-c", "core.quotePath=false", "diff", "--no-index", *_DIFF_OPTIONS, "--",
             "/dev/null", path], cwd=repo.working_tree_dir, capture_output=True, check=False)
        if done.returncode in (0, 1):
            out.append(done.stdout)
    return b"".join(out)


def messages(repo, span: Range) -> list[str]:
    """Full commit messages in the range, newest first (first parents only)."""
    if span.log_range is None:
        return []
    return [commit.message for commit in repo.iter_commits(span.log_range, first_parent=True)]


def first_parent_commits(repo, span: str) -> list[str]:
    """The first-parent commits of A..B, oldest first (merged pull requests for a main line)."""
    left, right = span.split("..", 1)
    old, new = _commit(repo, left or "HEAD"), _commit(repo, right or "HEAD")
    shas = [c.hexsha for c in repo.iter_commits(f"{old}..{new}", first_parent=True)]
    return shas[::-1]


def read_blob(repo_root: str, rev: str, path: str, blob: str | None = None) -> bytes | None:
    """File contents at a side of the change: a commit, the index or the working tree."""
    import git

    if rev == WORKTREE:
        file = Path(repo_root) / path
        return file.read_bytes() if file.is_file() else None
    repo = _repo(repo_root)
    spec = blob or (f":{path}" if rev == INDEX else f"{rev}:{path}")
    try:
        return repo.git.execute(["git", "cat-file", "blob", spec], stdout_as_string=False,
                                strip_newline_in_stdout=False)
    except git.GitCommandError:
        return None


def _first_line(text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'") for line in lines]
    return lines[0] if lines else "unknown error"
