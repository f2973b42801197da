"""The terminal report (rich): triage table, budget bar, findings by severity, footer.

Rendered into a string, so the caller decides where it goes. Untrusted text (paths, titles,
suggestions) is added as rich `Text`, never as markup, and stripped of control characters.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from cartriage.report import view

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cartriage.pipeline import Result

TIER_STYLE = {"high": "bold red", "medium": "yellow", "low": "green"}
SEVERITY_STYLE = {"critical": "bold white on red", "major": "bold red", "minor": "yellow",
                  "info": "cyan"}
BAR_WIDTH = 50


def use_color(color: bool | None, stream=None) -> bool:
    """Colour when asked, else only on a terminal and never when NO_COLOR is set."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stdout if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def console_width() -> int:
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size((120, 24)).columns
    return 120


def render(result: Result, *, quiet: bool = False, verbose: bool = False,
           color: bool | None = None, width: int | None = None) -> str:
    colored = use_color(color)
    width = width or console_width()
    console = Console(file=io.StringIO(), width=width,
                      force_terminal=colored, no_color=not colored, color_system=(
                          "standard" if colored else None), highlight=False, emoji=False,
                      soft_wrap=False)
    for part in _parts(result, quiet=quiet, verbose=verbose, width=width):
        console.print(part)
    return console.file.getvalue()


def _parts(result: Result, *, quiet: bool, verbose: bool, width: int):
    rows = view.unit_rows(result)
    empty = view.nothing_to_review(result)
    if empty:
        yield Text(empty[0].upper() + empty[1:] + ".")
        yield from _ignored(result, verbose)
        yield from _notes(result, verbose)
        return
    if not quiet:
        yield _headline(result)
        yield from _ignored(result, verbose)
        if view.issue_only(result):
            yield from _issue_only(result)
        if rows:
            yield from _table(result, rows, verbose, width)
            yield _bar(result)
    if result.review is not None or result.secrets:
        yield from _findings(result, verbose)
    yield from _footer(result, rows, quiet)
    if not quiet:
        yield from _notes(result, verbose)


def _headline(result: Result) -> Text:
    c = result.change
    change = result.scores.change
    text = Text()
    text.append("cartriage ", style="bold")
    text.append("review" if result.review is not None else "plan", style="bold")
    text.append(f"  {view.one_line(c.source, 60)}")
    if c.title:
        text.append(f"  “{view.one_line(c.title, 70)}”", style="italic")
    text.append("\n")
    if c.files:
        text.append(f"{view.plural(len(c.files), 'file')}, "
                    f"{view.plural(view.hunk_count(result), 'hunk')}, +{c.added} −{c.removed}; ")
    text.append("consequence of this change: ")
    text.append(view.consequence_label(change), style=TIER_STYLE.get(change.tier, ""))
    if not change.override and change.probabilities:
        text.append(f" {view.PROBABILITY_KEY}", style="dim")
    return text


IGNORED_SHOWN = 10


def _ignored(result: Result, verbose: bool):
    """Name the files [ignore] set aside (all of them with --verbose)."""
    ignored = view.ignored_files(result)
    if not ignored:
        return
    shown = ignored if verbose else ignored[:IGNORED_SHOWN]
    more = len(ignored) - len(shown)
    tail = f" … and {more} more (--verbose lists all)" if more else ""
    yield Text(f"Ignored ([ignore], not reviewed): {', '.join(shown)}{tail}", style="dim")


def _issue_only(result: Result):
    change = result.scores.change
    text = Text("Issue-only triage (no code yet): an error implementing this would be ")
    text.append(f"{change.tier}-consequence", style=TIER_STYLE.get(change.tier, ""))
    probabilities = ", ".join(f"{k} {v:.2f}" for k, v in change.probabilities.items())
    text.append(f" ({probabilities}).")
    if change.top_features:
        text.append(f"\nBecause: {view.features(change.top_features, 5)}", style="dim")
    yield text


STATUS_LABEL = {"not reviewed: budget": "NO: budget", "failed": "FAILED",
                "not reviewed": "NO: missing"}
# Narrow terminals hide these columns first, in this order, and say so under the table.
HIDE_ORDER = ("USD", "Difficulty", "Roles", "Tokens")
UNIT_MIN = 18  # the Unit column never gets narrower than this while a column can be hidden
ROLES_WIDTH = (10, 16)  # Roles fold onto more lines down to 10 columns before anything hides
GAP = 2  # between two columns: right padding and the box's blank divider


def _table(result: Result, rows: list[view.UnitRow], verbose: bool, width: int):
    title, widths, hidden, body = _layout(result, rows, width)
    table = _new_table(title, widths)
    fits = sum(widths.values()) + GAP * (len(widths) - 1) <= width
    if not fits:  # rich narrows the columns to the terminal: a rich row per unit
        for cells in body:
            table.add_row(*cells.values())
    yield table  # else only its title and header
    if fits:
        yield _Lines(list(_body(widths, body)))
    if hidden:
        yield Text(f"(at {width} columns the {', '.join(hidden)} column"
                   f"{'s are' if len(hidden) > 1 else ' is'} hidden: widen the terminal, set "
                   "COLUMNS, or use --format markdown or json)", style="yellow")
    whys = [Text(f"  why {view.clean(r.unit_id)}: "
                 f"{view.one_line(r.assignment.forced_by or r.assignment.reason)}", style="dim")
            for r, _ in (_ordered(result, rows) if verbose else ()) if r.assignment is not None]
    if whys:
        yield Text("\n").join(whys)


RIGHT = ("Tokens", "USD")  # right-aligned columns


def _new_table(title: str, widths: dict[str, int]) -> Table:
    """The triage table without rows: columns of these widths, Roles wrapping."""
    table = Table(title=title, title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False,
                  padding=(0, 1, 0, 0))
    for name, size in widths.items():
        table.add_column(name, justify="right" if name in RIGHT else "left",
                         no_wrap=name != "Roles", overflow="fold", width=size)
    return table


def _body(widths: dict[str, int], body: list[dict[str, Text]]) -> Iterator[list[Segment]]:
    """The table's rows, laid out here as rich lays out a row per unit (rich took 0.6 s for
    1,339 units): each cell cut or padded to its column, its style over both; Roles wrapped
    onto more lines, the other cells blank there; two blanks between columns (a cell's
    padding and the divider)."""
    gap = Segment(" " * GAP)
    for cells in body:
        columns = {name: list(cell.wrap(_WRAPPER, widths[name], justify="left",
                                        overflow="fold")) if name == "Roles" else [cell]
                   for name, cell in cells.items()}
        for at in range(max(map(len, columns.values()))):
            line: list[Segment] = []
            for name, lines in columns.items():
                if line:
                    line.append(gap)
                if at >= len(lines):
                    line.append(Segment(" " * widths[name]))
                    continue
                cell = lines[at]
                line.append(Segment(_fit(cell.plain, widths[name], name in RIGHT),
                                    Style.parse(cell.style) if cell.style else None))
            yield line


def _fit(text: str, size: int, right: bool) -> str:
    """`text` cut or padded to `size` cells, as rich aligns a cell."""
    short = size - cell_len(text)
    if short < 0:
        return set_cell_size(text, size)
    return " " * short + text if right else text + " " * short


@dataclass(frozen=True)
class _Lines:
    """Lines of segments, printed as they are."""

    lines: list[list[Segment]]

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        for line in self.lines:
            yield from line
            yield Segment.line()


def _ordered(result: Result, rows: list[view.UnitRow]) -> list[tuple[view.UnitRow, bool]]:
    """The rows riskiest first, each with whether it was meant to be reviewed and was not."""
    waiting = {r.unit_id for r in view.unreviewed(rows)} if result.review is not None else set()
    return [(r, r.unit_id in waiting)
            for r in sorted(rows, key=lambda r: (-view.tier_rank(r.tier), r.unit_id))]


def _layout(result: Result, rows: list[view.UnitRow], width: int
            ) -> tuple[str, dict[str, int], list[str], list[dict[str, Text]]]:
    """The table's title, its columns' widths, the columns hidden to fit `width`, and each
    unit's cells (riskiest first), styled and not yet wrapped."""
    reviewing = result.review is not None
    styles = _ordered(result, rows)
    cells = {name: [] for name in ("Unit", "Roles", "Consequence", "Difficulty", "Strategy",
                                   "Tokens", "USD", *(["Status"] if reviewing else []))}
    for r, _ in styles:
        a = r.assignment
        if reviewing:
            status = STATUS_LABEL.get(r.status, r.status)
            if r.review is not None and r.review.findings:
                status += f" ({len(r.review.findings)})"
            cells["Status"].append(status)
        cells["Unit"].append(view.clean(r.unit_id))
        cells["Roles"].append(", ".join(r.roles) or "–")
        cells["Consequence"].append(r.consequence)
        cells["Difficulty"].append(r.difficulty.tier if r.difficulty else "–")
        cells["Strategy"].append(r.strategy + (f" ×{a.samples}" if a and a.samples > 1 else ""))
        cells["Tokens"].append(view.tokens(a.est_tokens if a else None))
        cells["USD"].append(view.usd(a.est_usd if a else None))
    key = view.PROBABILITY_KEY
    cells["Consequence"] = [view.consequence_label(c) for c in cells["Consequence"]]
    sizes = {name: max(len(name), *(len(c) for c in column)) for name, column in cells.items()}
    sizes["Roles"] = min(sizes["Roles"], ROLES_WIDTH[1])
    hidden = []

    def unit_room() -> int:
        shown = [n for n in sizes if n != "Unit" and n not in hidden]
        return width - sum(sizes[n] for n in shown) - GAP * len(shown)

    if unit_room() < min(UNIT_MIN, sizes["Unit"]):  # narrow: each tier with its own probability
        key = view.COMPACT_KEY
        cells["Consequence"] = [view.consequence_label(r.consequence, compact=True)
                                for r, _ in styles]
        sizes["Consequence"] = max(len("Consequence"), *map(len, cells["Consequence"]))
    shortfall = min(UNIT_MIN, sizes["Unit"]) - unit_room()
    if shortfall > 0:
        sizes["Roles"] = max(min(sizes["Roles"], ROLES_WIDTH[0]), sizes["Roles"] - shortfall)
    for name in HIDE_ORDER:
        if unit_room() >= min(UNIT_MIN, sizes["Unit"]):
            break
        hidden.append(name)
    sizes["Unit"] = max(8, min(sizes["Unit"], unit_room()))
    widths = {name: sizes[name] for name in cells if name not in hidden}
    body = [{name: _cell(name, cells[name][i], r, unreviewed, sizes["Unit"]) for name in widths}
            for i, (r, unreviewed) in enumerate(styles)]
    return (f"Triage plan (est. tokens and USD per unit; consequence: tier {key})", widths,
            hidden, body)


_WRAPPER = Console(width=80, color_system=None)  # Text.wrap reads it only to justify "full"


def _cell(name: str, value: str, r: view.UnitRow, unreviewed: bool, unit_width: int) -> Text:
    """One unit's cell of column `name`, styled."""
    if name == "Unit":
        return Text(view.short_path(value, unit_width))
    if name == "Roles":
        return Text(value, style="dim" if value == "–" else "")
    if name == "Consequence":
        return Text(value, style=TIER_STYLE.get(r.tier or "", ""))
    if name == "Strategy":
        return Text(value, style=view.strategy_bar(r.strategy)[0])
    if name == "Status":
        return Text(value, style="bold yellow" if unreviewed else "")
    return Text(value)


def _bar(result: Result) -> Text:
    """The budget split across strategies, in tokens (or USD when only a USD budget is set)."""
    split = view.strategy_split(result)
    plan = result.plan
    by_usd = plan.budget_tokens is None and plan.budget_usd is not None
    amounts = [(name, (usd or 0.0) if by_usd else est) for name, _, est, usd in split]
    budget = plan.budget_usd if by_usd else plan.budget_tokens
    planned = sum(a for _, a in amounts)
    scale = max(budget or 0, planned) or 1
    text = Text("Budget  ")
    used = 0
    for name, amount in amounts:
        width = round(BAR_WIDTH * amount / scale)
        style, char = view.strategy_bar(name)
        text.append(char * width, style=style)
        used += width
    text.append("·" * max(0, BAR_WIDTH - used), style="dim")
    fmt = view.usd if by_usd else view.tokens
    text.append(f"  {fmt(planned)} of {fmt(budget) if budget is not None else 'no budget'}")
    legend = []
    for (name, units, _, _), (_, amount) in zip(split, amounts, strict=True):
        share = f" {amount / scale:.0%}" if amount else ""
        legend.append(f"{view.strategy_bar(name)[1].strip() or '·'} {name} "
                      f"{view.plural(units, 'unit')}{share}")
    if budget:
        legend.append(f"· unused {max(0.0, 1 - planned / scale):.0%}")
    text.append("\n        " + "   ".join(legend), style="dim")
    return text


def _findings(result: Result, verbose: bool):
    found = view.findings(result)
    if not found:
        yield Text("No findings.", style="green" if not view.incomplete(result) else "")
        return
    for severity, count in view.severity_counts(result).items():
        if not count:
            continue
        yield Text(f"\n{severity.upper()} ({count})", style=SEVERITY_STYLE.get(severity, "bold"))
        for f in (f for f in found if f.severity == severity):
            line = Text()
            where = f"{f.file}:{f.line_start}"
            if f.line_end > f.line_start:
                where += f"-{f.line_end}"
            line.append(view.clean(where), style="bold")
            line.append(f"  {view.one_line(f.title)}")
            line.append(f"  [{view.one_line(f.category)}] support {f.support}/{f.samples}",
                        style="dim")
            if verbose and f.explanation:
                line.append(f"\n  {view.clean(f.explanation).strip()}")
            if f.suggestion:
                line.append(f"\n  → {view.clean(f.suggestion).strip()}", style="green")
            yield _indented(line)


def _footer(result: Result, rows: list[view.UnitRow], quiet: bool):
    plan, review = result.plan, result.review
    text = Text("\n")
    if review is None:
        text.append(f"Plan only (no LLM called): est. {view.tokens(plan.total_tokens)} tokens")
        if plan.total_usd is not None:
            text.append(f" ({view.usd(plan.total_usd)})")
    else:
        text.append(f"Spent {view.tokens(view.spent_tokens(result))} tokens "
                    f"({view.usd(review.usd)}), planned {view.tokens(plan.total_tokens)}")
    if plan.budget_tokens is not None:
        text.append(f"; budget {view.tokens(plan.budget_tokens)} tokens")
    if plan.budget_usd is not None:
        text.append(f"; budget {view.usd(plan.budget_usd)}")
    if review is not None:
        text.append(f"\nSecrets redacted before sending: {review.redactions}")
        if review.dropped_findings or review.reanchored_findings:
            text.append(f"; findings outside the changed lines: {review.reanchored_findings} "
                        f"re-anchored, {review.dropped_findings} dropped")
    elif rows and not quiet:
        text.append(f"; expected loss {plan.expected_loss:.3g}")
    yield text
    unmet = getattr(plan, "unmet_minimums", ())
    if unmet:
        yield Text(f"Budget too small for the [[rules]] minimum of: "
                   f"{', '.join(view.clean(u) for u in unmet)}", style="bold yellow")
    left = view.not_covered(rows)
    if left and not (quiet and review is None):
        label = "Not reviewed" if review is not None else "Skipped by the plan"
        yield Text(f"{label}:", style="bold yellow" if view.incomplete(result) else "bold")
        lines = []
        for r in left:
            line = Text(view.clean(r.unit_id))
            line.append(f" ({r.tier or 'unscored'})", style=TIER_STYLE.get(r.tier or "", ""))
            line.append(f"  {r.status} — {view.one_line(r.reason)}", style="dim")
            lines.append(line)
        yield _indented(Text("\n").join(lines))  # one block: a block per unit took 0.4 s of
        # a 1,270-unit list
    if view.incomplete(result):
        yield Text(f"Review INCOMPLETE: {len(view.unreviewed(rows))} planned unit(s) were not "
                   "reviewed; this result is not clean.",
                   style="bold yellow")


def _indented(text: Text) -> Padding:
    """Two spaces in, and wrapped lines stay indented (a long reason never starts a line)."""
    return Padding(text, (0, 0, 0, 2))


def _notes(result: Result, verbose: bool):
    """Notes; those that repeat on every plan (totals, value floor list, LP bound) and the
    per-file analysis notes only with --verbose."""
    notes = [*result.messages, *result.analysis.notes, *result.plan.notes]
    if result.review is not None:
        notes += result.review.notes
    if verbose:
        notes += result.plan.details
        notes += [f"{f.path}: {n}" for f in result.analysis.files for n in f.notes]
    for note in dict.fromkeys(notes):
        yield Text(f"note: {view.one_line(note)}", style="dim")
