"""What pulling each unit toward its change (features.with_change) adds to scoring a change.

    python benchmarks/bench_change_share.py --data changes-train.jsonl [--repeats 15]

For a 50-file change and an 850-file range built from the largest records (as bench_scoring.py
builds them): CPU ms min/median/max of the whole change's numeric consequence features (once per
change), of the blend of every unit's row, and, for scale, of the units' own features.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

from bench_neighbours import _times as cpu_ms  # this folder (run as a script)

from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.scoring import features
from cartriage.scoring.records import to_change


def combined(found, wanted: int, config):
    """The largest changes' files under distinct prefixes, `wanted` of them, analysed."""
    files, text = [], []
    for change in found:
        text.append(change.title)
        files += [replace(f, path=f"r{len(text)}/{f.path}") for f in change.files]
        if len(files) >= wanted:
            break
    change = replace(found[0], files=tuple(files[:wanted]), description="\n".join(text))
    return change, analyze(change, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    rows = [json.loads(r) for r in args.data.read_text().splitlines() if r.strip()]
    found = sorted((to_change(r, config) for r in rows if r.get("diff")),
                   key=lambda c: (-len(c.files), c.source))
    for wanted in (50, 850):
        print(measure(*combined(found, wanted, config), args.repeats))


def measure(change, analysis, repeats: int) -> str:
    lines: dict = {}
    scoped = [s for _, s in features.scopes(change, analysis, lines)]
    whole = features.whole_change(change, analysis, lines)
    text = features.read_text(change)
    units = [features.consequence_features(text, s, True) for s in scoped]
    pulled_to = features.as_context(features.consequence_features(text, whole, True))
    parts = {
        "the change's features": lambda: features.as_context(
            features.consequence_features(text, whole, True)),
        "the blend of every unit": lambda: [features.with_change(u, pulled_to, 0.5)
                                            for u in units],
        "the units' own features": lambda: [features.consequence_features(text, s, True)
                                            for s in scoped],
    }
    return (f"{len(change.files)} files, {len(scoped)} units (CPU min / median / max): "
            + "; ".join(f"{name} {cpu_ms(fn, repeats)}" for name, fn in parts.items()))

if __name__ == "__main__":
    main()
