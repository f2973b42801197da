"""Report: lay a Result out for a terminal, a CI script, GitHub code scanning, a PR or reviewdog.

- `render(result, fmt, config)` -> the report as a string (text, json, sarif, markdown, rdjsonl);
- `exit_code(result, fail_on, require_coverage)` -> the process exit code for CI gating;
- `progress(total, ...)` -> the callback the review stage reports each finished unit to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cartriage.errors import UsageError
from cartriage.report.gating import exit_code
from cartriage.report.progress import progress

if TYPE_CHECKING:
    from cartriage.config import Config
    from cartriage.pipeline import Result

FORMATS = ("text", "json", "sarif", "markdown", "rdjsonl")

__all__ = ["FORMATS", "exit_code", "progress", "render"]


def render(result: Result, fmt: str, config: Config | None = None, *, quiet: bool = False,
           verbose: bool = False, color: bool | None = None) -> str:
    """The report in `fmt`. `color=None` colours text only on a terminal without NO_COLOR."""
    if fmt == "text":
        from cartriage.report import text

        return text.render(result, quiet=quiet, verbose=verbose, color=color)
    if fmt == "json":
        from cartriage.report import document, jsontext

        return jsontext.dumps(document.build(result, config)) + "\n"
    if fmt == "sarif":
        from cartriage.report import jsontext, sarif

        return jsontext.dumps(sarif.build(result)) + "\n"
    if fmt == "markdown":
        from cartriage.report import markdown

        return markdown.render(result, verbose=verbose)
    if fmt == "rdjsonl":
        from cartriage.report import rdjsonl

        return rdjsonl.render(result)
    raise UsageError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
