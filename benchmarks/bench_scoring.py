"""Scoring benchmark: model size, load time, a 50-file change warm, the shared text parsed once.

    python benchmarks/bench_scoring.py --data /path/to/changes-train.jsonl [--repeats 20]

Each figure is CPU time and wall time, min/median/max over --repeats runs. "before/after" for
the shared text: parsing the change's text (title, description, issue) once per unit and model,
as scoring did before, against once per change (features.read_text), in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

LOAD = """
import time
c, w = time.process_time(), time.perf_counter()
from cartriage.scoring import model
for name in model.NAMES:
    model.load(name)
print(time.process_time() - c, time.perf_counter() - w)
"""


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return cpu, wall


def line(label: str, cpu: list[float], wall: list[float]) -> str:
    def ms(values):
        return (f"{1000 * min(values):.1f}/{1000 * statistics.median(values):.1f}/"
                f"{1000 * max(values):.1f}")
    return f"{label}: CPU {ms(cpu)} ms, wall {ms(wall)} ms (min/median/max)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from cartriage import config as configuration
    from cartriage.analysis import analyze
    from cartriage.scoring import features, model, score
    from cartriage.scoring.records import to_change

    folder = model.model_dir()
    total = 0
    for path in sorted(folder.iterdir()):
        total += path.stat().st_size
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
    print(f"models folder: {total / 2**20:.2f} MiB")

    cpu, wall = [], []
    for _ in range(max(3, args.repeats // 4)):
        out = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                             check=True).stdout.split()
        cpu.append(float(out[0]))
        wall.append(float(out[1]))
    print(line("load 3 models in a fresh process (incl. onnxruntime import)", cpu, wall))

    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    rows = [json.loads(raw) for raw in args.data.read_text().splitlines() if raw.strip()]
    changes = [to_change(r, config) for r in rows]
    # The record nearest to 50 reviewed files, cut to its first 50 files.
    sized = [(abs(len(c.files) - 50), i) for i, c in enumerate(changes) if len(c.files) >= 50]
    change = changes[min(sized)[1]]
    change = replace(change, files=change.files[:50])
    analysis = analyze(change, config)
    score(change, analysis, config)  # warm: models loaded
    cpu, wall = timed(lambda: score(change, analysis, config), args.repeats)
    print(line(f"score() a {len(change.files)}-file change, {len(analysis.units)} units, warm",
               cpu, wall))

    # A long range: the text of 300 records as one description, scored per unit.
    big = replace(change, description="\n".join(features.change_text(c) for c in changes[:300]))
    scopes = [s for _, s in features.scopes(big, analysis)]

    def before():
        for s in scopes:
            features.consequence_features(features.read_text(big), s)
            features.difficulty_features(features.read_text(big), s)

    def after():
        text = features.read_text(big)
        for s in scopes:
            features.consequence_features(text, s)
            features.difficulty_features(text, s)

    print(f"features of {len(scopes)} units sharing a {len(big.description) / 1024:.0f} KiB "
          "description:")
    print(line("  before (text parsed per unit and model)", *timed(before, 3)))
    print(line("  after (text parsed once per change)", *timed(after, 3)))


if __name__ == "__main__":
    main()
