"""`cartriage hook run`: what the pre-commit hooks and `cartriage hook install` hooks run.

Which change it reviews:
- `PRE_COMMIT_FROM_REF`/`PRE_COMMIT_TO_REF` set (the pre-commit framework on pre-push, or
  `pre-commit run --from-ref A --to-ref B`): the commits `FROM..TO`;
- `--type pre-push` without them (a plain git hook): each pushed ref from git's stdin lines
  `<local ref> <local sha> <remote ref> <remote sha>`; a new branch is reviewed from where it
  leaves what the remote already has;
- otherwise: the staged changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cartriage.errors import EXIT_FINDINGS, InputError

ZERO = "0" * 40


def pushed_ranges(lines: list[str], repo: Path, remote: str | None) -> list[str]:
    """Revision ranges for the refs git is pushing (deleted refs have nothing to review)."""
    ranges = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _, local_sha, _, remote_sha = parts
        if set(local_sha) == {"0"}:
            continue
        if set(remote_sha) != {"0"}:
            ranges.append(f"{remote_sha}..{local_sha}")
            continue
        base = _new_branch_base(repo, local_sha, remote)
        if base is not None:
            ranges.append(f"{base}..{local_sha}")
    return ranges


def _new_branch_base(repo: Path, local_sha: str, remote: str | None) -> str | None:
    """The parent of the oldest commit the remote does not have (None when there is none)."""
    exclude = f"--remotes={remote}" if remote else "--remotes"
    new = _git(repo, "rev-list", "--topo-order", "--reverse", local_sha, "--not", exclude)
    if not new:
        return None
    oldest = new.split()[0]
    parent = _git(repo, "rev-parse", "--verify", "--quiet", f"{oldest}^")
    if not parent:
        print(f"cartriage: {local_sha[:12]}: a new root history; nothing to diff it against",
              file=sys.stderr)
        return None
    return parent


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=False)
    except OSError as exc:
        raise InputError(f"cannot run git: {exc.strerror}") from None
    return done.stdout.strip() if done.returncode == 0 else ""


def targets(repo: Path, hook_type: str | None, remote: str | None, environ, stdin) -> list[dict]:
    """The change requests this hook run reviews, as command options."""
    from_ref = environ.get("PRE_COMMIT_FROM_REF") or environ.get("PRE_COMMIT_SOURCE")
    to_ref = environ.get("PRE_COMMIT_TO_REF") or environ.get("PRE_COMMIT_ORIGIN")
    if from_ref and to_ref:
        return [{"rev": f"{from_ref}..{to_ref}", "staged": False}]
    if hook_type == "pre-push":
        lines = stdin.read().splitlines() if stdin is not None else []
        return [{"rev": span, "staged": False} for span in pushed_ranges(lines, repo, remote)]
    return [{"rev": None, "staged": True}]


def run(*, repo: Path, hook_type: str | None, plan_only: bool, remote: str | None = None,
        url: str | None = None, config=None, budget=None, fail_on=None, require_coverage=None,
        quiet: bool = False, verbose: bool = False, environ=None, stdin=None) -> int:
    import os

    from cartriage.commands import plan, review

    environ = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None and hook_type == "pre-push" else stdin
    codes = []
    for target in targets(Path(repo), hook_type, remote, environ, stdin):
        options = dict(repo=Path(repo), config=config, budget=budget, policy=None, fmt="text",
                       output=None, quiet=quiet, verbose=verbose, worktree=False, diff=None,
                       issue=None, message=None, **target)
        if plan_only:  # the coverage gate holds without a model too
            codes.append(plan.run(**options, require_coverage=require_coverage))
        else:
            codes.append(review.run(**options, model=None, no_cache=False, fail_on=fail_on,
                                    require_coverage=require_coverage))
    if EXIT_FINDINGS in codes:
        return EXIT_FINDINGS
    return max(codes, default=0)
