"""CPU cost of one encoder pass per change text, by what is embedded and where it is cut.

    python benchmarks/bench_encoder_cut.py --data changes-train.jsonl [--texts 200 --repeats 3]

A plan embeds its one text alone: each text is encoded in its own call, the encoder loaded
once before. Cases alternate within each repeat; prints CPU ms per text (min/median/max of the
repeats) for the whole text cut at 256, 128, 64 and 32 tokens, and the title alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from cartriage import config as configuration
from cartriage.scoring import encoder, features
from cartriage.scoring.cache import model_folder
from cartriage.scoring.records import all_records, to_change

CASES = (("text", 256), ("text", 128), ("text", 64), ("text", 32), ("title", 256))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--texts", type=int, default=200, help="every n-th record, this many")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": "/nonexistent"})
    records = all_records(args.data.read_bytes(), str(args.data))
    step = max(len(records) // args.texts, 1)
    changes = [to_change(r, config) for r in records[::step][:args.texts]]
    folder = model_folder()
    encoder.encode(["load the encoder"], folder, products="integer")
    cost: dict[tuple[str, int], list[float]] = {case: [] for case in CASES}
    for _ in range(args.repeats):
        for which, cut in CASES:
            texts = [features.embedded_text(c, which) for c in changes]
            start = time.process_time()
            for text in texts:
                encoder.encode([text], folder, max_tokens=cut, products="integer")
            cost[which, cut].append((time.process_time() - start) * 1000 / len(texts))
    print(f"{len(changes)} texts of {args.data.name}, CPU ms per text (min/median/max)")
    for (which, cut), values in cost.items():
        print(f"{which:5} cut at {cut:3} tokens: {min(values):.1f} / "
              f"{statistics.median(values):.1f} / {max(values):.1f}")


if __name__ == "__main__":
    main()
