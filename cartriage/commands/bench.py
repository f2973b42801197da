"""`cartriage bench`: compare allocation policies at matched budgets on labelled records."""

from __future__ import annotations

import json
from pathlib import Path


def run(*, data: Path, fmt: str = "text", output: Path | None = None,
        config: Path | None = None) -> int:
    from cartriage.allocation import bench
    from cartriage.commands import common
    from cartriage.errors import UsageError

    if fmt not in ("text", "json"):
        raise UsageError(f"unknown --format {fmt!r}: bench writes text or json")
    settings = common.load_config(Path("."), config)
    records, problems = bench.read_records(data)
    notes = [f"{len(problems)} line(s) skipped: {problems[0]}"] if problems else []
    inputs = {}
    try:
        inputs["predicted"] = bench.predicted_inputs(records, settings)
    except ImportError:
        notes.append("no predictions: cartriage.scoring.predict_records is not available, "
                     "so only oracle inputs are compared")
    inputs["oracle"] = bench.oracle_inputs(records, settings)
    result = bench.run(records, settings, inputs)
    result["notes"] = notes
    text = json.dumps(result, indent=2) if fmt == "json" else bench.format_text(result)
    common.write(text, output)
    return 0
