"""`cartriage explain`: roles, symbols, fan-in and consequence of a change, with evidence."""

from __future__ import annotations

import sys

from cartriage.commands import common
from cartriage.errors import UsageError


def run(*, repo, fmt, output, config, **inputs) -> int:
    from cartriage import pipeline
    from cartriage.report import explain

    if fmt not in explain.FORMATS:
        raise UsageError(f"unknown --format {fmt!r} for explain: use text or json")
    settings = common.load_config(repo, config)
    result = pipeline.plan(common.request({"repo": repo, **inputs}), settings)
    empty = common.nothing_to_review(result)
    if empty:
        print(empty, file=sys.stderr)
        return 0
    common.write(explain.render(result, fmt, color=False if output else None), output)
    return 0
