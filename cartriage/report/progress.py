"""Progress while LLM calls run: a live line on a terminal, plain log lines in CI or a pipe.

    with report.progress(total=len(units), budget_tokens=plan.budget_tokens) as progress:
        review.run(result, config, progress=progress)

The review stage calls `progress(unit_id, done, total, spent_tokens, spent_usd)` after each unit
(from any thread). The live display ends when the `with` block does (or at `close()`).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

from cartriage.report import view


class Progress:
    """The callback handed to the review stage; also a context manager that ends the display."""

    def __init__(self, total: int, *, stream: TextIO | None = None, quiet: bool = False,
                 budget_tokens: int | None = None, budget_usd: float | None = None,
                 live: bool | None = None) -> None:
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.budget_tokens = budget_tokens
        self.budget_usd = budget_usd
        self.live = (not quiet and is_interactive(self.stream)) if live is None else live
        self._lock = threading.Lock()
        self._done = 0
        self._bar = None
        self._task = None

    def __call__(self, unit_id: str, done: int, total: int, spent_tokens: int,
                 spent_usd: float | None) -> None:
        if self.quiet:
            return
        with self._lock:
            if done < self._done:  # callers on several threads may arrive out of order
                return
            self._done, self.total = done, total
            if self.live:
                self._update_live(unit_id, done, total, spent_tokens, spent_usd)
            else:
                self.stream.write(f"cartriage: [{done}/{total}] {view.one_line(unit_id)}; "
                                  f"{self.spend(spent_tokens, spent_usd)}\n")
                self.stream.flush()

    def spend(self, spent_tokens: int, spent_usd: float | None) -> str:
        text = f"spent {view.tokens(spent_tokens)}"
        if self.budget_tokens is not None:
            text += f" of {view.tokens(self.budget_tokens)}"
        text += " tokens"
        if spent_usd is not None:
            text += f", {view.usd(spent_usd)}"
            if self.budget_usd is not None:
                text += f" of {view.usd(self.budget_usd)}"
        return text

    def _update_live(self, unit_id, done, total, spent_tokens, spent_usd) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            console = Console(file=self.stream, no_color=bool(os.environ.get("NO_COLOR")))
            self._bar = Bar(TextColumn("Reviewing"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[spend]}", markup=False),
                            TimeElapsedColumn(),
                            # unit ids are paths from the diff: text, never rich markup
                            TextColumn("{task.fields[unit]}", style="dim", markup=False),
                            console=console,
                            transient=True)
            self._task = self._bar.add_task("review", total=total, spend="", unit="")
            self._bar.start()
        self._bar.update(self._task, completed=done, total=total,
                         spend=self.spend(spent_tokens, spent_usd), unit=view.one_line(unit_id, 40))

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_interactive(stream: TextIO) -> bool:
    """A live display only on a terminal, and never under CI (some CI runners fake a TTY)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(total: int = 0, *, stream: TextIO | None = None, quiet: bool = False,
             budget_tokens: int | None = None, budget_usd: float | None = None,
             live: bool | None = None) -> Progress:
    """A progress callback `(unit_id, done, total, spent_tokens, spent_usd) -> None`."""
    return Progress(total, stream=stream, quiet=quiet, budget_tokens=budget_tokens,
                    budget_usd=budget_usd, live=live)
