"""`cartriage bench`: compare allocation policies at matched budgets on labelled records."""

from __future__ import annotations

import json
from pathlib import Path


def run(*, data: Path, fmt: str = "text", output: Path | None = None,
        config: Path | None = None) -> int:
    from cartriage.allocation import bench
    from cartriage.commands import common
    from cartriage.errors import InputError, UsageError
    from cartriage.scoring import predict_records

    if fmt not in ("text", "json"):
        raise UsageError(f"unknown --format {fmt!r}: bench writes text or json")
    settings = common.load_config(Path("."), config)
    records, problems = bench.read_records(data)
    notes = [f"{len(problems)} line(s) skipped: {problems[0]}"] if problems else []
    scored = predict_records(records, settings)
    failed = [s for s in scored if s.error]
    if failed:
        notes.append(f"{len(failed)} record(s) could not be scored and are left out: "
                     f"{failed[0].id}: {failed[0].error}")
    kept = [i for i, s in enumerate(scored) if not s.error]
    records, scored = [records[i] for i in kept], [scored[i] for i in kept]
    if not records:
        raise InputError(f"{data}: no record could be scored")
    inputs = {"predicted": bench.predicted_inputs(scored),
              "oracle": bench.oracle_inputs(records, settings)}
    result = bench.run(records, settings, inputs)
    result["notes"] = notes
    text = json.dumps(result, indent=2) if fmt == "json" else bench.format_text(result)
    common.write(text, output)
    return 0
