"""`cartriage explain`: roles, symbols, fan-in and consequence of a change, with evidence."""

from __future__ import annotations

import sys

from cartriage.commands import common


def run(*, repo, fmt, output, config, **inputs) -> int:
    from cartriage import pipeline
    from cartriage.report import explain, view

    common.check_format(fmt, explain.FORMATS, "explain")
    common.check_output(output)
    settings = common.load_config(repo, config)
    result = pipeline.plan(common.request({"repo": repo, **inputs}), settings)
    empty = view.nothing_to_review(result)
    if empty:
        print(f"cartriage: {empty}", file=sys.stderr)
    common.write(explain.render(result, fmt, color=False if output else None), output)
    return 0
