"""`cartriage bench`: compare allocation policies at matched budgets on labelled records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def run(*, data: Path, fmt: str = "text", output: Path | None = None,
        config: Path | None = None, cross_repo: bool = False) -> int:
    from cartriage.allocation import bench
    from cartriage.commands import common
    from cartriage.errors import InputError
    from cartriage.scoring import predict_records

    common.check_format(fmt, ("text", "json"), "bench")
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
    inputs = {"predicted": bench.predicted_inputs(scored)}
    if cross_repo:
        inputs["cross-repo"] = bench.cross_repo_inputs(records, settings, _training_settings(),
                                                       _shipped_facts())
    inputs["oracle"] = bench.oracle_inputs(records, settings)
    result = bench.run(records, settings, inputs)
    trained_on = _trained_on(data)
    if trained_on:
        notes.append(f"the {trained_on} model was trained on these records, so the predicted "
                     "inputs are in-sample and flatter the predictors; bench held-out records "
                     "for a fair share of the oracle's gain"
                     + ("; the cross-repo inputs are the fair ones here" if cross_repo
                        else ", or add --cross-repo"))
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


def _training_settings():
    """Built-in defaults only, as `cartriage train` featurises (commands/train.py)."""
    import os

    from cartriage import config as configuration

    return configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})


def _shipped_facts() -> dict[str, dict]:
    """The shipped repository-facts sidecar that `cartriage train` uses, or none."""
    from cartriage.errors import InputError
    from cartriage.scoring import repo_facts
    from cartriage.scoring.model import model_dir

    path = model_dir() / repo_facts.SHIPPED
    if not path.is_file():
        return {}
    try:
        return repo_facts.load(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None
