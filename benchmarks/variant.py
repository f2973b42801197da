"""One checkout of cartriage ("before" or "after") running a snippet of Python in a fresh
process, for the benchmarks that compare two checkouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_json(code: Path, child: str, *args: str, what: str, cwd: Path | None = None) -> dict:
    """What `child` (run with `args`, cartriage imported from `code`) printed, read as JSON;
    a failure stops the benchmark with the child's error (`what` names the work)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(code), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-c", child, *args], env=env, cwd=cwd or code,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{what} failed under {code}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)
