"""`cartriage hook install` and `cartriage hook run`'s choice of what to review, on real repos."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from cartriage.commands import hook, hook_run
from cartriage.errors import InputError, UsageError


def test_install_writes_an_executable_hook(repo, capsys):
    assert hook.run(repo=repo.path, hook_type="pre-push", plan_only=True, force=False) == 0
    target = repo.path / ".git" / "hooks" / "pre-push"
    text = target.read_text()
    assert text.startswith("#!/bin/sh\n") and hook.MARKER in text
    assert "hook run --type pre-push --plan-only" in text and sys.executable in text
    assert os.access(target, os.X_OK)
    assert "installed" in capsys.readouterr().out
    # installing again replaces our own hook without --force
    assert hook.run(repo=repo.path, hook_type="pre-push", plan_only=False, force=False) == 0
    assert "--plan-only" not in target.read_text()


def test_install_keeps_a_foreign_hook_unless_forced(repo):
    target = repo.path / ".git" / "hooks" / "pre-commit"
    target.write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(UsageError, match="--force"):
        hook.run(repo=repo.path, hook_type="pre-commit", plan_only=False, force=False)
    assert target.read_text() == "#!/bin/sh\necho mine\n"
    hook.run(repo=repo.path, hook_type="pre-commit", plan_only=False, force=True)
    assert (target.parent / "pre-commit.backup").read_text() == "#!/bin/sh\necho mine\n"
    assert hook.MARKER in target.read_text()


def test_install_honours_core_hooks_path(repo):
    repo.git("config", "core.hooksPath", "githooks")
    hook.run(repo=repo.path, hook_type="pre-push", plan_only=True, force=False)
    assert (repo.path / "githooks" / "pre-push").is_file()


def test_install_errors(tmp_path, repo):
    with pytest.raises(InputError, match="not a git repository"):
        hook.run(repo=tmp_path, hook_type="pre-push", plan_only=False, force=False)
    with pytest.raises(UsageError, match="--type"):
        hook.run(repo=repo.path, hook_type="post-merge", plan_only=False, force=False)


def test_installed_script_skips_with_cartriage_skip(repo):
    hook.run(repo=repo.path, hook_type="pre-push", plan_only=True, force=False)
    done = subprocess.run([str(repo.path / ".git" / "hooks" / "pre-push")], cwd=repo.path,
                          env={**os.environ, "CARTRIAGE_SKIP": "1"}, capture_output=True)
    assert done.returncode == 0 and done.stdout == b""


def test_installed_script_says_when_cartriage_is_missing(repo):
    (repo.path / ".git" / "hooks").mkdir(exist_ok=True)
    target = repo.path / ".git" / "hooks" / "pre-push"
    target.write_text(hook.script("pre-push", False, python="/nonexistent/python"))
    target.chmod(0o755)
    done = subprocess.run([str(target)], cwd=repo.path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and "cartriage: not installed" in done.stderr


@pytest.fixture
def pushed(repo, tmp_path):
    """A repository whose `origin` has main at `base`; main then gets two local commits."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.commit("root", {"a.py": "x = 1\n"})
    base = repo.commit("base", {"a.py": "x = 2\n"})
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    repo.commit("one", {"b.py": "y = 1\n"})
    head = repo.commit("two", {"b.py": "y = 2\n"})
    return repo, base, head


def test_pushed_ranges_for_updates_new_branches_and_deletions(pushed):
    repo, base, head = pushed
    zero = "0" * 40
    lines = [
        f"refs/heads/main {head} refs/heads/main {base}",
        f"refs/heads/feature {head} refs/heads/feature {zero}",
        f"(delete) {zero} refs/heads/old {base}",
        "garbage",
    ]
    assert hook_run.pushed_ranges(lines, repo.path, "origin") == [
        f"{base}..{head}", f"{base}..{head}"]


def test_new_branch_with_nothing_new_has_nothing_to_review(pushed):
    repo, base, _ = pushed
    line = f"refs/heads/copy {base} refs/heads/copy {'0' * 40}"
    assert hook_run.pushed_ranges([line], repo.path, "origin") == []


def test_targets_prefer_pre_commit_refs(repo):
    env = {"PRE_COMMIT_FROM_REF": "abc", "PRE_COMMIT_TO_REF": "def"}
    assert hook_run.targets(repo.path, "pre-push", None, env, io.StringIO("junk")) == [
        {"rev": "abc..def", "staged": False}]
    assert hook_run.targets(repo.path, None, None, {}, None) == [{"rev": None, "staged": True}]
    assert hook_run.targets(repo.path, "pre-push", None, {}, io.StringIO("")) == []


def _pipeline_ready() -> bool:
    import importlib

    return all(hasattr(importlib.import_module(f"cartriage.{stage}"), name) for stage, name in
               (("analysis", "analyze"), ("scoring", "score"), ("allocation", "allocate")))


@pytest.mark.skipif(not _pipeline_ready(), reason="pipeline stages not all present")
def test_git_push_runs_the_installed_plan_hook(pushed):
    repo, base, head = pushed
    hook.run(repo=repo.path, hook_type="pre-push", plan_only=True, force=False)
    done = subprocess.run(["git", "push", "origin", "main"], cwd=repo.path, capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    assert "cartriage plan" in done.stdout + done.stderr
    assert "b.py" in done.stdout + done.stderr
