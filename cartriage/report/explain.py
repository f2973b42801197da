"""`cartriage explain`: what a change touches, with the evidence, and why each unit scored so.

Per file: language, roles with evidence, changed symbols (public and signature changes marked),
fan-in and its percentile. Per unit: consequence and difficulty with their top features.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from cartriage.errors import UsageError
from cartriage.report import document, view
from cartriage.report.text import TIER_STYLE, console_width, use_color

if TYPE_CHECKING:
    from cartriage.pipeline import Result

FORMATS = ("text", "json")
MARKS = {"added": "+", "removed": "-", "modified": "~"}


def render(result: Result, fmt: str, *, color: bool | None = None) -> str:
    if fmt == "json":
        return json.dumps(build(result), indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        return _text(result, color)
    raise UsageError(f"unknown --format {fmt!r} for explain: use text or json")


def build(result: Result) -> dict[str, Any]:
    """The same facts as the text, for scripts (`"kind": "explain"`)."""
    return {
        "schema_version": document.SCHEMA_VERSION,
        "kind": "explain",
        "nothing_to_review": view.nothing_to_review(result),
        "change": document.change(result),
        "consequence": document.consequence(result.scores.change),
        "model_version": result.scores.model_version,
        "indexed_files": result.analysis.indexed_files,
        "notes": list(result.analysis.notes),
        "files": document.file_facts(result),
        "units": [
            {
                "unit_id": r.unit_id,
                "path": r.path,
                "roles": list(r.roles),
                "consequence": document.consequence(r.consequence) if r.consequence else None,
                "difficulty": document.difficulty(r.difficulty) if r.difficulty else None,
            }
            for r in view.unit_rows(result)
        ],
    }


def _text(result: Result, color: bool | None) -> str:
    colored = use_color(color)
    console = Console(file=io.StringIO(), width=console_width(), force_terminal=colored,
                      no_color=not colored, color_system="standard" if colored else None,
                      highlight=False, emoji=False)
    for part in _parts(result):
        console.print(part)
    return console.file.getvalue()


def _parts(result: Result):
    empty = view.nothing_to_review(result)
    if empty:
        yield Text(empty[0].upper() + empty[1:] + ".")
        return
    changes = {f.path: f for f in result.change.files}
    indexed = result.analysis.indexed_files
    for facts in result.analysis.files:
        head = Text(view.clean(facts.path), style="bold")
        head.append(f"  {facts.language or 'unknown language'}", style="cyan")
        change = changes.get(facts.path)
        if change is not None:
            head.append(f"  {change.status}, +{change.added} −{change.removed}", style="dim")
        yield head
        if facts.roles:
            for i, hit in enumerate(facts.roles):
                line = Text("  roles    " if i == 0 else "           ")
                line.append(f"{hit.role:<12}", style="bold")
                line.append(f" ← {view.one_line(hit.evidence)}", style="dim")
                yield line
        else:
            yield Text("  roles    none found", style="dim")
        yield Text(f"  fan-in   {_fan_in(facts, indexed)}")
        importers = getattr(facts, "importers", ())
        if importers:
            yield Text(f"           e.g. {', '.join(view.clean(i) for i in importers[:5])}",
                       style="dim")
        for i, symbol in enumerate(facts.symbols):
            line = Text("  symbols  " if i == 0 else "           ")
            line.append(f"{MARKS.get(symbol.change, '?')} {view.clean(symbol.name)}",
                        style="bold" if symbol.public else "")
            line.append(f"  {symbol.kind}", style="dim")
            if symbol.public:
                line.append("  public", style="yellow")
            if getattr(symbol, "fan_in", None):
                line.append(f"  used by {symbol.fan_in} files", style="dim")
            if symbol.signature_changed:
                line.append("  signature changed", style="bold red")
                if symbol.old_signature or symbol.new_signature:
                    line.append(f": {view.one_line(symbol.old_signature or '?')} → "
                                f"{view.one_line(symbol.new_signature or '?')}", style="dim")
            yield line
        if not facts.symbols:
            yield Text("  symbols  none" + ("" if facts.parsed else " (not parsed)"), style="dim")
        for note in facts.notes:
            yield Text(f"  note     {view.one_line(note)}", style="dim")
        yield Text("")
    rows = view.unit_rows(result)
    if rows:
        yield Text("Units", style="bold underline")
    for r in rows:
        line = Text(f"  {view.clean(r.unit_id)}\n", style="bold")
        line.append("    consequence ")
        line.append(view.tier_label(r.consequence), style=TIER_STYLE.get(r.tier or "", ""))
        if r.consequence is not None:
            line.append(f"  ({_probabilities(r.consequence.probabilities)})", style="dim")
            if r.consequence.override:
                line.append(f"  pinned by {view.one_line(r.consequence.override)}",
                            style="yellow")
            if r.consequence.top_features:
                line.append(f"\n      because {view.features(r.consequence.top_features, 5)}")
        line.append("\n    difficulty  ")
        if r.difficulty is not None:
            line.append(f"{r.difficulty.tier}  (P(defect) {r.difficulty.defect_probability:.2f})")
            if r.difficulty.top_features:
                line.append(f"\n      because {view.features(r.difficulty.top_features, 5)}")
        else:
            line.append("–")
        yield line
    change = result.scores.change
    line = Text("\nChange consequence: ", style="bold")
    line.append(view.tier_label(change), style=TIER_STYLE.get(change.tier, ""))
    line.append(f"  ({_probabilities(change.probabilities)})", style="dim")
    if view.issue_only(result):
        line.append("  from the issue text alone")
    if change.top_features:
        line.append(f"\n  because {view.features(change.top_features, 5)}")
    yield line
    for note in result.analysis.notes:
        yield Text(f"note: {view.one_line(note)}", style="dim")


def _fan_in(facts, indexed: int | None) -> str:
    if facts.fan_in is None:
        return "unknown (no repository index)"
    text = f"{facts.fan_in} file{'s' if facts.fan_in != 1 else ''} import or reference it"
    if facts.fan_in_percentile is not None:
        text += f"; {_ordinal(round(facts.fan_in_percentile))} percentile"
        if indexed:
            text += f" of {indexed:,} indexed files"
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _probabilities(probabilities: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in probabilities.items())
