"""Scoring many records at once (`cartriage score`, `cartriage bench`): one encoder pass per
record against the records' texts encoded in one call.

    python benchmarks/bench_scoring_records.py --data /path/to/changes-train.jsonl
        [--records 300] [--repeats 5]

Cases, each CPU and wall time, min/median/max over --repeats runs, before and after alternating
in one process (models and encoder loaded first):
- before: `score()` per record, each with its own encoder pass (predict_records until now);
- after: `predict_records()`, the texts embedded CHUNK records at a time in one `encode` call;
- the encoder alone: the same texts one at a time, and in one `encode` call.
The largest difference between the two ways' probabilities is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_scoring import line  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    from cartriage import config as configuration
    from cartriage.analysis import analyze
    from cartriage.scoring import encoder, features, model, predict_records, score
    from cartriage.scoring.records import to_change

    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    records = [json.loads(raw) for raw in args.data.read_text().splitlines()
               if raw.strip()][:args.records]

    def one_at_a_time():
        out = []
        for record in records:
            change = to_change(record, config)
            out.append(score(change, analyze(change, config), config).change)
        return out

    texts = [features.change_text(to_change(r, config)) for r in records]
    folder = model.model_dir()
    graph = {"products": "integer"} if hasattr(encoder, "PRODUCTS") else {}  # the diff model's
    predict_records(records[:2], config)  # loads the models and the encoder
    cases = {
        "before: score() per record, one encoder pass each": one_at_a_time,
        "after: predict_records(), texts encoded together": lambda: predict_records(records,
                                                                                      config),
        "encoder alone, one text at a time": lambda: [encoder.encode([t], folder, **graph)
                                                      for t in texts],
        "encoder alone, one encode() call": lambda: encoder.encode(texts, folder, **graph),
    }
    times = {name: ([], []) for name in cases}
    for _ in range(args.repeats):  # alternating, so the machine's load falls on every case
        for name, fn in cases.items():
            c, w = time.process_time(), time.perf_counter()
            fn()
            times[name][0].append(time.process_time() - c)
            times[name][1].append(time.perf_counter() - w)
    before = one_at_a_time()
    after = [s.consequence for s in predict_records(records, config)]
    gap = max(abs(a.probabilities[t] - b.probabilities[t])
              for a, b in zip(before, after, strict=True) for t in a.probabilities)
    tiers = sum(a.tier != b.tier for a, b in zip(before, after, strict=True))
    print(f"{len(records)} records, {sum(len(t) for t in texts)} characters of text")
    for name, (cpu, wall) in times.items():
        print(line(name, cpu, wall))
    print(f"largest probability difference, batched vs one at a time: {gap:.2g}; "
          f"tiers that differ: {tiers}")


if __name__ == "__main__":
    main()
