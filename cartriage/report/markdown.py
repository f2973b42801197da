"""A pull-request comment: summary, findings, and the plan collapsed in <details>.

The first line is the `<!-- cartriage -->` marker, so a CI job can find and update its own
comment instead of adding a new one on every push.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from cartriage.report import view

if TYPE_CHECKING:
    from cartriage.pipeline import Result

MARKER = "<!-- cartriage -->"
ICONS = {"critical": "🔴", "major": "🟠", "minor": "🟡", "info": "🔵"}


_ACTIVE = re.compile(r"([\\`*_\[\]!~])")


def cell(text: object, limit: int = 0) -> str:
    """Untrusted text made safe inside a table cell: one line, no pipes, inert Markdown."""
    return _inert(view.one_line(text, limit)).replace("|", "\\|")


def block(text: object) -> str:
    """Untrusted multi-line text made safe in the comment body (no marker, inert Markdown)."""
    return _inert(view.clean(text).strip())


def code(text: object) -> str:
    """Untrusted text inside a `code span` (paths, unit ids): one line, no backticks or pipes."""
    return view.one_line(text).replace("`", "'").replace("|", "\\|")


def _inert(text: str) -> str:
    """No HTML, links, images, emphasis or @mentions from text the diff or the model wrote."""
    text = _ACTIVE.sub(r"\\\1", html.escape(text, quote=False))
    return text.replace("@", "&#64;")


def render(result: Result, *, verbose: bool = False) -> str:
    rows = view.unit_rows(result)
    found = view.findings(result)
    out = [MARKER, "## cartriage review" if result.review else "## cartriage plan", ""]
    empty = view.nothing_to_review(result)
    if empty:
        out.append(f"**{cell(empty[0].upper() + empty[1:])}.**")
    else:
        out += _summary(result, rows, found)
    if found:
        out += ["", "### Findings", ""]
        for f in found:
            where = f"`{code(f.file)}:{f.line_start}" + (
                f"-{f.line_end}`" if f.line_end > f.line_start else "`")
            out.append(f"- {ICONS.get(f.severity, '')} **{f.severity}** {where} "
                       f"**{cell(f.title)}** ({cell(f.category)}, support {f.support}/"
                       f"{f.samples})")
            if verbose and f.explanation:
                out.append(f"  {block(f.explanation)}".replace("\n", "\n  "))
            if f.suggestion:
                out.append(f"  > Suggestion: {block(f.suggestion)}".replace("\n", "\n  > "))
    left = view.not_covered(rows) if result.review is not None else []
    if left:
        out += ["", "### Not reviewed", ""]
        out += [f"- `{code(r.unit_id)}` ({r.tier or 'unscored'} consequence): {cell(r.status)}"
                f" — {cell(r.reason)}" for r in left]
    ignored = view.ignored_files(result)
    if ignored:
        out += ["", f"Ignored ([ignore], not reviewed): "
                f"{', '.join(f'`{code(p)}`' for p in ignored)}"]
    if rows:
        out += ["", f"<details><summary>Triage plan ({len(rows)} units, policy "
                f"{cell(result.plan.policy)})</summary>", "", *_plan_table(rows), "",
                "</details>"]
    out += ["", f"<sub>{_footer(result)}</sub>", ""]
    return "\n".join(out)


def _summary(result: Result, rows, found) -> list[str]:
    change = result.scores.change
    lines = []
    if view.issue_only(result):
        lines.append(f"Issue-only triage of **{cell(result.change.title or 'the issue')}**.")
    lines += [
        "| Consequence | Units | Findings | Spend | Budget |",
        "| --- | --- | --- | --- | --- |",
    ]
    counts = view.severity_counts(result)
    if result.review is None:
        finding_text = "not reviewed (plan only)"
    elif found:
        finding_text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    else:
        finding_text = "none"
    plan = result.plan
    if result.review is None:
        spend = f"est. {view.tokens(plan.total_tokens)} tokens ({view.usd(plan.total_usd)})"
    else:
        spend = f"{view.tokens(view.spent_tokens(result))} tokens ({view.usd(result.review.usd)})"
    budget = " / ".join(x for x in (
        f"{view.tokens(plan.budget_tokens)} tokens" if plan.budget_tokens is not None else "",
        view.usd(plan.budget_usd) if plan.budget_usd is not None else "") if x) or "none"
    covered = sum(r.covered for r in rows)
    lines.append(f"| **{change.tier}** | {covered}/{len(rows)} "
                 f"{'reviewed' if result.review else 'planned'} | {finding_text} | {spend} | "
                 f"{budget} |")
    if view.incomplete(result):
        lines += ["", f"> [!WARNING]\n> **Review incomplete**: "
                  f"{len(view.unreviewed(rows))} planned unit(s) were not reviewed; see below."]
    return lines


def _plan_table(rows) -> list[str]:
    lines = ["| Unit | Roles | Consequence | Difficulty | Strategy | Est. tokens | Est. USD | "
             "Status |", "| --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    for r in sorted(rows, key=lambda r: (-view.tier_rank(r.tier), r.unit_id)):
        a = r.assignment
        lines.append(
            f"| `{code(r.unit_id)}` | {cell(', '.join(r.roles)) or '–'} | "
            f"{view.consequence_label(r.consequence)} | "
            f"{r.difficulty.tier if r.difficulty else '–'} | {cell(r.strategy)} | "
            f"{view.tokens(a.est_tokens if a else None)} | "
            f"{view.usd(a.est_usd if a else None)} | {cell(r.status)} |")
    return lines


def _footer(result: Result) -> str:
    parts = ["cartriage"]
    if result.review is not None:
        parts.append(f"secrets redacted: {result.review.redactions}")
        if result.review.dropped_findings:
            parts.append(f"findings outside the change dropped: {result.review.dropped_findings}")
    parts.append(f"model {cell(result.scores.model_version)}")
    return " · ".join(parts)
