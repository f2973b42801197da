"""`cartriage plan`: the triage plan, never an LLM call."""

from __future__ import annotations

from cartriage.commands import common


def run(*, repo, config, budget, policy, fmt, output, quiet, verbose, batch=None,
        require_coverage=None, **inputs) -> int:
    """Exit 0, or 1 when `require_coverage` is given and the plan skips a unit it covers."""
    from cartriage import pipeline, report

    if batch is None:
        common.check_format(fmt)
    else:
        from cartriage.report.batch import FORMATS as batch_formats

        common.check_format(fmt, batch_formats, "plan --batch")
    common.check_output(output)
    settings = common.load_config(repo, config, budget=budget, **{
        "review.policy": policy, "review.require_coverage": require_coverage})
    if batch is not None:
        from cartriage.commands import batch as batch_command

        return batch_command.run(repo=repo, span=batch, config=settings, fmt=fmt,
                                 output=output, inputs=inputs)
    result = pipeline.plan(common.request({"repo": repo, **inputs}), settings, once=True)
    common.write_report(result, fmt, settings, output, quiet=quiet, verbose=verbose)
    if require_coverage is None:
        return 0
    return report.exit_code(result, None, settings.get("review", "require_coverage"))
