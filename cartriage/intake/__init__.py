"""Intake: read the change named on the command line into a ChangeSet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cartriage.errors import InputError, UsageError
from cartriage.intake.change import ChangeSet, FileChange
from cartriage.intake.diff import parse_diff

if TYPE_CHECKING:
    from cartriage.config import Config

__all__ = ["ChangeRequest", "ChangeSet", "FileChange", "first_parent_changes", "parse_diff",
           "read_blob", "read_change", "repository_root", "set_aside_ignored"]


@dataclass(frozen=True)
class ChangeRequest:
    """What the user asked to review, as parsed from the command line."""

    repo: Path = Path(".")
    rev: str | None = None
    staged: bool = False
    worktree: bool = False
    diff: str | None = None
    issue: str | None = None
    message: str | None = None


def read_change(request: ChangeRequest, config: Config) -> ChangeSet:
    """Read the requested change; files matched by [ignore] are set aside, not reviewed."""
    _check(request)
    issue = _read_text(request.issue, "issue") if request.issue else ""
    if request.diff:
        data = _read_bytes(request.diff, "diff")
        source = "stdin" if request.diff == "-" else request.diff
        files = parse_diff(data, source)
        if not files and data.strip():
            raise InputError(f"--diff {source}: no diff found (expected a unified diff, e.g. "
                             "`git diff` or `git format-patch` output)")
        change = ChangeSet(source=f"patch {source}", files=files)
        title, description = _patch_message(data)
        change = replace(change, title=title, description=description)
    elif request.issue and not (request.rev or request.staged or request.worktree):
        change = ChangeSet(source="issue " + ("stdin" if request.issue == "-" else request.issue))
    else:
        change = _from_git(request)
    if request.message is not None:
        title, _, description = request.message.strip().partition("\n")
        change = replace(change, title=title.strip(), description=description.strip())
    return replace(set_aside_ignored(change, config), issue=issue)


def set_aside_ignored(change: ChangeSet, config: Config) -> ChangeSet:
    """The change without the files [ignore] matches; their paths go to `ignored`."""
    kept, ignored = [], []
    for file in change.files:
        (ignored if config.ignored(file.path) else kept).append(file)
    return replace(change, files=tuple(kept),
                   ignored=change.ignored + tuple(f.path for f in ignored),
                   ignored_renamed_from=change.ignored_renamed_from + tuple(
                       f.old_path for f in ignored if f.status == "renamed" and f.old_path))


def read_blob(change: ChangeSet, path: str, side: Literal["old", "new"]) -> bytes | None:
    """The contents of a changed file before (`old`) or after (`new`) the change, if known."""
    if change.repo_root is None:
        return None
    file = next((f for f in change.files if f.path == path or f.old_path == path), None)
    if side == "old":
        rev, blob = change.old_rev, file.old_blob if file else None
        path = (file.old_path or path) if file else path
    else:
        rev, blob = change.new_rev, file.new_blob if file else None
    if rev is None:
        return None
    from cartriage.intake import git

    if rev == git.EMPTY_TREE:
        return None
    return git.read_blob(change.repo_root, rev, path, blob)


def _check(request: ChangeRequest) -> None:
    forms = [name for name, given in (("REV", request.rev), ("--staged", request.staged),
                                      ("--worktree", request.worktree),
                                      ("--diff", request.diff)) if given]
    if len(forms) > 1:
        raise UsageError(f"give one change to review, not {' and '.join(forms)}")
    if request.diff == "-" and request.issue == "-":
        raise UsageError("--diff and --issue cannot both read stdin")


def _from_git(request: ChangeRequest) -> ChangeSet:
    from cartriage.intake import git

    repo = git.open_repo(request.repo)
    span = git.resolve(repo, request.rev, request.staged, request.worktree)
    files = parse_diff(git.diff_bytes(repo, span), span.source)
    title, description = _title(git.messages(repo, span))
    return ChangeSet(source=span.source, files=files, repo_root=repo,
                     old_rev=span.old, new_rev=span.new, title=title, description=description)


def repository_root(repo: Path) -> str:
    """The root of the work tree containing `repo`; InputError when there is none."""
    from cartriage.intake import git

    return git.open_repo(repo)


def first_parent_changes(repo: Path, span: str, config: Config) -> Iterator[ChangeSet]:
    """Each first-parent commit of A..B as `read_change` reads `SHA^!`, oldest first, from one
    `git log -p` stream (for `plan --batch`)."""
    from cartriage.intake import git

    root = git.open_repo(repo)
    for sha, parent, message, diff in git.first_parent_log(root, span):
        source = f"{sha} (one commit)"
        title, description = _title([message])
        change = ChangeSet(source=source, files=parse_diff(diff, source), repo_root=root,
                           old_rev=parent, new_rev=sha, title=title, description=description)
        yield set_aside_ignored(change, config)


def _title(messages: list[str]) -> tuple[str, str]:
    """Title and description from commit messages, newest first."""
    if not messages:
        return "", ""
    subject, _, body = messages[0].strip().partition("\n")
    if len(messages) == 1:
        return subject.strip(), body.strip()
    return subject.strip(), "\n\n".join(m.strip() for m in messages)


def _patch_message(data: bytes) -> tuple[str, str]:
    """Subject and body of a `git format-patch` mail, if the patch is one."""
    head = data[: data.find(b"\ndiff --git")] if b"\ndiff --git" in data else b""
    text = head.decode("utf-8", errors="replace")
    if "\nSubject: " not in "\n" + text:
        return "", ""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject: "))
    subject = [lines[start][len("Subject: "):]]
    index = start + 1
    while index < len(lines) and lines[index].startswith((" ", "\t")):
        subject.append(lines[index].strip())
        index += 1
    body = "\n".join(lines[index:]).split("\n---\n", 1)[0].strip()
    title = " ".join(subject).strip()
    if title.startswith("[PATCH"):
        title = title.split("]", 1)[-1].strip()
    return title, body


def _read_bytes(name: str, what: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        raise InputError(f"--{what} {name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"--{what} {name}: is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"--{what} {name}: cannot read: {exc.strerror}") from None


def _read_text(name: str, what: str) -> str:
    return _read_bytes(name, what).decode("utf-8", errors="replace").strip()
