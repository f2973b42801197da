"""Benchmark: the hard cap in randomized review runs against endpoints that bill dishonestly.

For each misbehaviour (over-billing prompt tokens 2-6x, ignoring `max_tokens`, usage missing,
zero, negative or not a number) it runs N randomized reviews (see `tests/review/cap_runs.py`)
and prints "N runs, K over cap" with the worst overshoot, where spend is what the server counted
(each model's billing probe included), and how many runs were charged below the server's count.
Run: `python benchmarks/bench_cap.py --runs 150` (7 x 150 = 1,050 runs; about 1 s each).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "review")]

from cap_runs import MISBEHAVIOURS, random_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=150, help="runs per misbehaviour")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--only", choices=list(MISBEHAVIOURS), action="append",
                        help="run only this misbehaviour (repeatable)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # pydantic warns on non-numeric usage
    tmp = Path(tempfile.mkdtemp(prefix="cartriage-bench-"))
    os.environ["CARTRIAGE_CACHE_DIR"] = str(tmp / "cache")
    os.environ["CARTRIAGE_LOG_DB"] = str(tmp / "logs.db")
    total_runs = total_over = 0
    for misbehaviour in args.only or MISBEHAVIOURS:
        rng = random.Random(f"{args.seed}-{misbehaviour}")
        over, worst, under_charged = 0, 1.0, 0
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.runs):
            run = random_run(rng, misbehaviour, tmp)
            if run.billed > run.cap:
                over += 1
                worst = max(worst, run.billed / max(1, run.cap))
            under_charged += run.charged < run.billed
        total_runs += args.runs
        total_over += over
        print(f"{misbehaviour}: {args.runs} runs, {over} over cap (worst {worst:.2f}x the cap), "
              f"{under_charged} charged below the server's count; "
              f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    print(f"all: {total_runs} runs, {total_over} over cap")


if __name__ == "__main__":
    main()
