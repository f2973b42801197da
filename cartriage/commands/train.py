"""`cartriage train --data CHANGES.jsonl --data ISSUES.jsonl --out DIR`: validate, fit, export."""

from __future__ import annotations

import os
from pathlib import Path

from cartriage import config as configuration


def run(data: list[Path], out: Path, repo_facts: Path | None = None) -> int:
    from cartriage.scoring import train  # raises a one-line CartriageError without the extra
    from cartriage.scoring.model import model_dir
    from cartriage.scoring.repo_facts import SHIPPED

    if repo_facts is None:  # the shipped sidecar: reproduces the shipped models offline
        shipped = model_dir() / SHIPPED
        repo_facts = shipped if shipped.is_file() else None

    # Built-in defaults only: no user, project or environment settings (their [ignore] or
    # [analysis] keys must not change the model); os.devnull as XDG_CONFIG_HOME hides the user file.
    settings = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    train.train(data, out, settings, facts_path=repo_facts)
    return 0
