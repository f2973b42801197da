"""`cartriage review`: plan the review, then run it through the configured LLM."""

from __future__ import annotations

import sys

from cartriage.commands import common

NO_MODEL = ("cartriage: no LLM configured, so this is the plan only. To review, set a model: "
            "`[llm] model = \"openai/gpt-4o-mini\"` in cartriage.toml (key in $OPENAI_API_KEY), "
            "or pass --model (see the README: OpenAI, Anthropic, ollama, any OpenAI-compatible "
            "endpoint).")


def run(*, repo, config, budget, policy, fmt, output, model, no_cache, fail_on,
        require_coverage, quiet, verbose, **inputs) -> int:
    from cartriage import pipeline, report
    from cartriage import review as review_stage

    common.check_format(fmt)
    settings = common.load_config(repo, config, budget=budget, **{
        "review.policy": policy, "review.fail_on": fail_on,
        "review.require_coverage": require_coverage, "llm.model": model})
    result = pipeline.plan(common.request({"repo": repo, **inputs}), settings)
    empty = common.nothing_to_review(result)
    if empty:
        print(empty, file=sys.stderr)
        return 0
    chosen = review_stage.configured_model(settings, model)
    if chosen is None or not result.plan.assignments:
        common.write_report(result, fmt, settings, output, quiet=quiet, verbose=verbose)
        if chosen is None and result.plan.assignments:
            print(NO_MODEL, file=sys.stderr)
        # Without a model the only findings are secrets in added lines: they gate too.
        return report.exit_code(result, settings.get("review", "fail_on"))
    progress = report.progress(total=len(result.plan.assignments), quiet=quiet,
                               budget_tokens=result.plan.budget_tokens,
                               budget_usd=result.plan.budget_usd)
    try:
        result.review = review_stage.run(result, settings, use_cache=not no_cache, model=model,
                                         progress=progress)
    finally:
        progress.close()
    common.write_report(result, fmt, settings, output, quiet=quiet, verbose=verbose)
    return report.exit_code(result, settings.get("review", "fail_on"),
                            settings.get("review", "require_coverage"))
