"""`cartriage plan --batch A..B`: plan every first-parent commit in a range under one budget."""

from __future__ import annotations

from dataclasses import replace

from cartriage.commands import common
from cartriage.errors import InputError, UsageError


def run(*, repo, span: str, config, fmt: str, output, inputs: dict) -> int:
    from cartriage import allocation, pipeline
    from cartriage.report import batch as batch_report

    if any(inputs.get(k) for k in ("rev", "staged", "worktree", "diff")):
        raise UsageError("--batch names the range itself: give no REV, --staged, --worktree "
                         "or --diff with it")
    if ".." not in span:
        span = f"{span}..HEAD"
    results = []
    for change, facts, scores in pipeline.triage_batch(repo, span, config):
        # the report needs the title and the number of files: the diff text is let go
        results.append((replace(change, files=tuple(replace(f, hunks=()) for f in change.files)),
                        facts, scores))
    if not results:
        raise InputError(f"--batch {span}: the range has no commits")
    plan = allocation.plan_batch([(change.new_rev[:12], facts, scores)
                                  for change, facts, scores in results], config)
    common.write(batch_report.render(span, results, plan, fmt), output)
    return 0
