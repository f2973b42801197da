"""`cartriage plan --batch A..B`: plan every first-parent commit in a range under one budget."""

from __future__ import annotations

from cartriage.commands import common
from cartriage.errors import InputError, UsageError


def run(*, repo, span: str, config, fmt: str, output, inputs: dict) -> int:
    from cartriage import allocation, intake, pipeline
    from cartriage.intake import git
    from cartriage.report import batch as batch_report

    if any(inputs.get(k) for k in ("rev", "staged", "worktree", "diff")):
        raise UsageError("--batch names the range itself: give no REV, --staged, --worktree "
                         "or --diff with it")
    if ".." not in span:
        span = f"{span}..HEAD"
    repository = git.open_repo(repo)
    commits = git.first_parent_commits(repository, span)
    if not commits:
        raise InputError(f"--batch {span}: the range has no commits")
    results = [pipeline.triage(intake.ChangeRequest(repo=repo, rev=f"{sha}^!"), config)
               for sha in commits]
    plan = allocation.plan_batch([(sha[:12], facts, scores) for sha, (_, facts, scores)
                                  in zip(commits, results, strict=True)], config)
    common.write(batch_report.render(span, results, plan, fmt), output)
    return 0
