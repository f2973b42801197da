"""The report for `cartriage plan --batch`: one row per change under one global budget."""

from __future__ import annotations

import io
import json
from collections import Counter

from cartriage.report import view

FORMATS = ("text", "json")
SCHEMA_VERSION = 1


def render(span: str, results, batch, fmt: str) -> str:
    """`results` is [(change, analysis, scores)] in the order of `batch.plans`."""
    pairs = zip(results, batch.plans, strict=True)
    rows = [_row(change, scores, plan) for (change, _, scores), plan in pairs]
    if fmt == "json":
        document = {
            "schema_version": SCHEMA_VERSION, "range": span, "policy": batch.policy,
            "budget": {"tokens": batch.budget_tokens, "usd": batch.budget_usd},
            "total_tokens": batch.total_tokens, "total_usd": batch.total_usd,
            "expected_loss": batch.expected_loss, "notes": list(batch.notes), "changes": rows,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return _text(span, rows, batch)


def _row(change, scores, plan) -> dict:
    strategies = Counter(a.strategy for a in plan.assignments)
    return {
        "commit": plan.change, "title": change.title, "files": len(change.files),
        "consequence": scores.change.tier,
        "consequence_probabilities": scores.change.probabilities,
        "units": len(plan.assignments), "strategies": dict(sorted(strategies.items())),
        "tokens": plan.total_tokens, "usd": plan.total_usd,
        "expected_loss": plan.expected_loss, "loss_if_skipped": plan.loss_if_all_skipped,
    }


def _text(span: str, rows: list[dict], batch) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Batch plan for {span}: {len(rows)} changes, policy {batch.policy}")
    for name in ("commit", "title", "files", "consequence", "strategies", "tokens",
                 "expected loss"):
        table.add_column(name, overflow="fold",
                         justify="right" if name in ("files", "tokens", "expected loss") else
                         "left")
    for row in rows:
        mix = ", ".join(f"{k} {v}" for k, v in row["strategies"].items())
        table.add_row(row["commit"][:9], escape(row["title"][:60]), str(row["files"]),
                      row["consequence"], mix, f"{row['tokens']:,}",
                      f"{row['expected_loss']:.2f}")
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, no_color=True, highlight=False)
    console.print(table)
    spent = []
    if batch.budget_tokens is not None:
        spent.append(f"{batch.total_tokens:,} of {batch.budget_tokens:,} tokens")
    if batch.budget_usd is not None:
        spent.append(f"{view.usd(batch.total_usd or 0)} of {view.usd(batch.budget_usd)}")
    console.print(f"Planned {' and '.join(spent)}; expected loss {batch.expected_loss:.2f}.")
    for note in batch.notes:
        console.print(f"note: {note}", markup=False)
    return buffer.getvalue()
