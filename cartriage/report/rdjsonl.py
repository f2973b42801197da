"""reviewdog's rdjsonl: one Diagnostic JSON object per line, for inline comments on any host.

Format: https://github.com/reviewdog/reviewdog/tree/master/proto/rdf
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cartriage.report import view

if TYPE_CHECKING:
    from cartriage.pipeline import Result

SEVERITY = {"critical": "ERROR", "major": "ERROR", "minor": "WARNING", "info": "INFO"}


def render(result: Result) -> str:
    rows = {r.unit_id: r for r in view.unit_rows(result)}
    lines = []
    for f in view.findings(result):
        start = max(1, f.line_start)
        row = rows.get(f.unit_id)
        message = f"[{f.severity}] {view.one_line(f.title)}"
        if f.explanation:
            message += f"\n{view.clean(f.explanation).strip()}"
        if f.suggestion:
            message += f"\nSuggestion: {view.clean(f.suggestion).strip()}"
        tier = row.tier if row is not None and row.tier else "unscored"
        message += (f"\n(cartriage: support {f.support}/{f.samples}, {f.strategy} review of a "
                    f"{tier}-consequence unit)")
        diagnostic = {
            "message": message,
            "location": {
                "path": f.file,
                "range": {"start": {"line": start}, "end": {"line": max(start, f.line_end)}},
            },
            "severity": SEVERITY.get(f.severity, "WARNING"),
            "source": {"name": "cartriage"},
            "code": {"value": f.category},
        }
        lines.append(json.dumps(diagnostic, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
