"""Scoring benchmark: model size, load time, per-change inference, 1,000 records end to end.

    python benchmarks/bench_scoring.py --data /path/to/changes-train.jsonl [--records 1000]

Records are repeated to reach --records. Figures go to the README (scoring section).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()

    from cartriage import config as configuration
    from cartriage.analysis import analyze
    from cartriage.scoring import model, score
    from cartriage.scoring.records import to_change

    folder = model.model_dir()
    for name in model.NAMES:
        size = (folder / f"{name}.onnx").stat().st_size
        print(f"model {name}.onnx: {size / 1024:.0f} KiB")

    start = time.perf_counter()
    for name in model.NAMES:
        model.load(name)
    elapsed = 1000 * (time.perf_counter() - start)
    print(f"load 3 models (incl. onnxruntime import): {elapsed:.0f} ms")

    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    changes = [to_change(r, config) for r in rows[:200]]
    analyses = [analyze(c, config) for c in changes]
    timings = []
    for change, facts in zip(changes, analyses, strict=True):
        begin = time.perf_counter()
        score(change, facts, config)
        timings.append(time.perf_counter() - begin)
    units = sum(len(a.units) for a in analyses)
    print(f"score() per change (features + ONNX, analysis excluded; {len(timings)} changes, "
          f"{units} units): median {1000 * statistics.median(timings):.2f} ms, "
          f"p95 {1000 * sorted(timings)[int(0.95 * len(timings))]:.2f} ms")

    records = [rows[i % len(rows)] for i in range(args.records)]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "records.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records))
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cartriage", "score", "--data", str(data),
                        "--output", str(Path(tmp) / "out.jsonl")], check=True)
        elapsed = time.perf_counter() - begin
        lines = (Path(tmp) / "out.jsonl").read_text().splitlines()
    print(f"cartriage score on {len(lines)} records (whole command, with analysis): "
          f"{elapsed:.1f} s")


if __name__ == "__main__":
    main()
