"""What the text model's similar issues cost: loading their table, and the shares of one text.

    python benchmarks/bench_neighbours.py [--repeats 200]

Loads `consequence-issue` from the model folder twice (with and without reading the table: the
card's sha256 check and np.load), then times features.neighbour_shares for one embedding (what
an issue-only plan computes) and for 64 at once. Prints CPU ms min/median/max.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cartriage.scoring import features, model


def _times(run, repeats: int) -> str:
    values = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        values.append((time.process_time() - start) * 1000)
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    found = model.load("consequence-issue")
    if found.neighbours is None:
        raise SystemExit("the text model in the model folder reads no similar issues")
    pool, tiers = found.neighbours
    k = found.card["neighbours"]["k"]
    entry = found.card["neighbours"]
    folder = found.path.parent
    print(f"{len(pool)} issues, k={k}, table {(folder / entry['file']).stat().st_size} bytes")
    print("read + sha256 + np.load of the table:",
          _times(lambda: model._neighbours(folder, entry, RuntimeError), args.repeats // 10))
    rng = np.random.default_rng(0)
    texts = rng.standard_normal((64, pool.shape[1])).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    print("shares of one text:",
          _times(lambda: features.neighbour_shares(texts[:1], pool, tiers, k), args.repeats))
    print("shares of 64 texts:",
          _times(lambda: features.neighbour_shares(texts, pool, tiers, k), args.repeats // 10))


if __name__ == "__main__":
    main()
