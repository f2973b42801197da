"""What several commands share: the change request, the configuration and writing the report."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from cartriage import config as configuration
from cartriage.errors import InputError, UsageError
from cartriage.intake import ChangeRequest

_TOKENS = re.compile(r"^(\d+(?:\.\d+)?)\s*([km]?)(?:\s*tokens?)?$", re.IGNORECASE)
_USD = re.compile(r"^(?:\$\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*(?:\$|usd))$", re.IGNORECASE)


def request(options: dict[str, Any]) -> ChangeRequest:
    return ChangeRequest(repo=options["repo"], rev=options.get("rev"),
                         staged=options.get("staged", False),
                         worktree=options.get("worktree", False), diff=options.get("diff"),
                         issue=options.get("issue"), message=options.get("message"))


def load_config(repo: Path, path: Path | None, **flags: Any) -> configuration.Config:
    """The effective configuration; `flags` maps "section.key" names to command-line values."""
    overrides: dict[tuple[str, ...], Any] = {}
    budget = flags.pop("budget", None)
    if budget is not None:
        overrides.update(parse_budget(budget))
    for name, value in flags.items():
        overrides[tuple(name.split("."))] = value
    return configuration.load(cwd=repo.resolve(), explicit=path, overrides=overrides)


def parse_budget(text: str) -> dict[tuple[str, ...], Any]:
    """`50000`, `50k`, `1.5m` are tokens; `$0.50`, `0.5usd` are dollars (and lift the token cap)."""
    value = text.strip().replace(",", "").replace("_", "")
    usd, tokens = _USD.match(value), _TOKENS.match(value)
    shown = text if len(text) <= 40 else text[:37] + "..."
    if usd or tokens:
        amount = float(usd.group(1) or usd.group(2)) if usd else \
            float(tokens.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[tokens.group(2).lower()]
        if not amount <= configuration.LARGEST:
            raise UsageError(f"--budget {shown!r}: at most {configuration.LARGEST:,}")
        if usd:
            return {("budget", "usd"): amount, ("budget", "tokens"): configuration.UNSET}
        return {("budget", "tokens"): int(amount), ("budget", "usd"): configuration.UNSET}
    raise UsageError(f"--budget {shown!r}: give tokens (50000, 50k) or dollars ($0.50, 0.5usd)")


def check_format(fmt: str, formats: tuple[str, ...] | None = None, command: str = "") -> None:
    """Refuse an unknown --format before any work is done (default: the report formats)."""
    if formats is None:
        from cartriage.report import FORMATS as formats
    if fmt not in formats:
        where = f" for {command}" if command else ""
        choices = " or ".join(formats) if len(formats) == 2 else "one of " + ", ".join(formats)
        raise UsageError(f"unknown --format {fmt!r}{where}: use {choices}")


def check_output(output: Path | None) -> None:
    """Refuse an --output path that cannot be written, before any work (or spend) is done."""
    if output is None:
        return
    folder = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        raise InputError(f"--output {output}: is a folder; give a file path")
    if not folder.is_dir():
        raise InputError(f"--output {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise InputError(f"--output {output}: not writable")


def write(text: str, output: Path | None) -> None:
    """Write the report to `output`, or to stdout."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--output {output}: cannot write: {exc.strerror}") from None


def write_report(result, fmt: str, config, output: Path | None, *, quiet: bool = False,
                 verbose: bool = False) -> None:
    """Render the result in `fmt` and write it (a valid empty report when there is nothing
    to review); no colour in a file."""
    from cartriage import report
    from cartriage.report import view

    empty = view.nothing_to_review(result)
    if empty and (fmt != "text" or output is not None):  # the text report says it itself
        print(f"cartriage: {empty}", file=sys.stderr)
    write(report.render(result, fmt, config, quiet=quiet, verbose=verbose,
                        color=False if output else None), output)
