"""`cartriage bench`: compare allocation policies at matched budgets on labelled records."""

from __future__ import annotations

import hashlib
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
    trained_on = _trained_on(data)
    if trained_on:
        notes.append(f"the {trained_on} model was trained on these records, so the predicted "
                     "inputs are in-sample and flatter the predictors; bench held-out records "
                     "for a fair share of the oracle's gain")
    result["notes"] = notes
    text = json.dumps(result, indent=2) if fmt == "json" else bench.format_text(result)
    common.write(text, output)
    return 0


def _trained_on(data: Path) -> str | None:
    """The shipped model (by its card) that was trained on exactly this file, if any."""
    from cartriage.scoring.model import model_dir

    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    for name in ("consequence", "difficulty"):
        try:
            card = json.loads((model_dir() / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (card.get("training_data") or {}).get("sha256") == digest:
            return name
    return None
