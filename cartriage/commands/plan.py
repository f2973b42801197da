"""`cartriage plan`: the triage plan, never an LLM call."""

from __future__ import annotations

import sys

from cartriage.commands import common


def run(*, repo, config, budget, policy, fmt, output, quiet, verbose, batch=None, **inputs) -> int:
    from cartriage import pipeline

    if batch is None:
        common.check_format(fmt)
    else:
        from cartriage.report.batch import FORMATS as batch_formats

        common.check_format(fmt, batch_formats, "plan --batch")
    settings = common.load_config(repo, config, budget=budget, **{"review.policy": policy})
    if batch is not None:
        from cartriage.commands import batch as batch_command

        return batch_command.run(repo=repo, span=batch, config=settings, fmt=fmt,
                                 output=output, inputs=inputs)
    result = pipeline.plan(common.request({"repo": repo, **inputs}), settings)
    empty = common.nothing_to_review(result)
    if empty:
        print(empty, file=sys.stderr)
        return 0
    common.write_report(result, fmt, settings, output, quiet=quiet, verbose=verbose)
    return 0
