"""`cartriage hook install`: a plain git hook for teams without the pre-commit framework.

The hook calls `cartriage hook run` (cartriage/commands/hook_run.py) with the Python that
installed it, so it works whether or not that virtualenv is active when git runs it.
"""

from __future__ import annotations

import shlex
import stat
import subprocess
import sys
from pathlib import Path

from cartriage.errors import InputError, UsageError

HOOK_TYPES = ("pre-push", "pre-commit")
MARKER = "# cartriage-hook v1"

TEMPLATE = """#!/bin/sh
{marker}: installed by `cartriage hook install`; delete this file to uninstall.
# Skip it once: `git {verb} --no-verify`, or CARTRIAGE_SKIP=1 in the environment.
if [ -n "$CARTRIAGE_SKIP" ]; then exit 0; fi
PYTHON={python}
if [ -x "$PYTHON" ] && "$PYTHON" -c 'import cartriage' 2>/dev/null; then
    exec "$PYTHON" -m cartriage hook run {arguments} "$@"
elif command -v cartriage >/dev/null 2>&1; then
    exec cartriage hook run {arguments} "$@"
fi
echo "cartriage: not installed for this hook ($0); install it or delete the hook" >&2
exit 1
"""


def script(hook_type: str, plan_only: bool, python: str | None = None) -> str:
    """The hook script's text."""
    arguments = f"--type {hook_type}" + (" --plan-only" if plan_only else "")
    return TEMPLATE.format(marker=MARKER, python=shlex.quote(python or sys.executable),
                           arguments=arguments,
                           verb="push" if hook_type == "pre-push" else "commit")


def hooks_dir(repo: Path) -> Path:
    """The repository's hooks folder (honours core.hooksPath and worktrees)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=repo,
                              capture_output=True, text=True, check=False)
    except OSError as exc:
        raise InputError(f"cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        raise InputError(f"{repo}: not a git repository")
    path = Path(done.stdout.strip())
    return path if path.is_absolute() else (repo / path)


def run(*, repo: Path, hook_type: str, plan_only: bool, force: bool) -> int:
    if hook_type not in HOOK_TYPES:
        raise UsageError(f"--type must be one of {', '.join(HOOK_TYPES)}, got {hook_type!r}")
    if not Path(repo).is_dir():
        raise InputError(f"--repo {repo}: no such folder")
    folder = hooks_dir(Path(repo))
    target = folder / hook_type
    if target.exists():
        ours = MARKER in target.read_text(encoding="utf-8", errors="replace")
        if not ours and not force:
            raise UsageError(f"{target} exists and is not cartriage's: pass --force to replace "
                             f"it (the old one is kept as {target.name}.backup)")
        if not ours:
            backup = target.with_name(target.name + ".backup")
            target.replace(backup)
            print(f"cartriage: kept the previous hook as {backup}", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(script(hook_type, plan_only), encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    what = "plan (no LLM calls)" if plan_only else "review"
    print(f"cartriage: installed {target}: runs the {what} on {hook_type}")
    return 0
