"""`cartriage train --data FILE.jsonl --out DIR`: validate, fit and export the scoring models."""

from __future__ import annotations

import os
from pathlib import Path

from cartriage import config as configuration


def run(data: Path, out: Path) -> int:
    from cartriage.scoring import train  # raises a one-line CartriageError without the extra

    # Built-in defaults only: no user, project or environment settings (their [ignore] or
    # [analysis] keys must not change the model); os.devnull as XDG_CONFIG_HOME hides the user file.
    settings = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    train.train(data, out, settings)
    return 0
