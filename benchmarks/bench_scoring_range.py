"""Scoring alone of a real range, or of a batch of commits, in one process per checkout.

    python benchmarks/bench_scoring_range.py --repo PATH (--range A..B | --batch N)
        [--base /path/to/older/checkout] [--repeats 3]

For each checkout (this one, and --base if given, each in a fresh process with its own code and
models): the change (or each of the last N first-parent commits) is read and analysed first,
the models and the encoder are loaded on a one-file slice (for a batch, a first batch of
`cache.BATCH` copies of it, as `plan --batch`'s first batch loads them), then scoring is
timed: `score()` of the range's change, or of each commit, and `score_many` in `cache.BATCH`
batches where the checkout has it. Prints CPU and wall seconds and the peak resident memory
before and after. No score cache is used.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

RUN = """
import dataclasses, resource, sys, time
from pathlib import Path
from cartriage import analysis, intake, config as configuration
from cartriage.intake import ChangeRequest

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

repo, what = Path(sys.argv[1]), sys.argv[2]
config = configuration.load(cwd=repo, env={})
if what.startswith("batch:"):
    from cartriage.analysis import fanin
    with fanin.held(intake.repository_root(repo)):
        pairs = [(dataclasses.replace(c, repo_root=None), analysis.analyze(c, config)) for c in
                 intake.first_parent_changes(repo, f"HEAD~{what[6:]}..HEAD", config)]
else:
    change = intake.read_change(ChangeRequest(repo=repo, rev=what), config)
    pairs = [(dataclasses.replace(change, repo_root=None), analysis.analyze(change, config))]
from cartriage.scoring import predict
first, facts = pairs[0]
loads = [(dataclasses.replace(first, files=first.files[:1]), facts)]
if len(pairs) > 1 and hasattr(predict, "score_many"):  # as the first batch of plan --batch
    from cartriage.scoring.cache import BATCH  # loads the encoder
    predict.score_many(loads * BATCH, config)
else:
    predict.score(*loads[0], config)  # loads
units = sum(len(a.units) for _, a in pairs)

def timed(label, fn):
    before, c, w = peak(), time.process_time(), time.perf_counter()
    fn()
    print(f"| {label} | {len(pairs)} | {units} | {time.process_time() - c:.2f} | "
          f"{time.perf_counter() - w:.2f} | {before:.0f} -> {peak():.0f} |")

for _ in range(int(sys.argv[3])):
    timed("score() each", lambda: [predict.score(c, a, config) for c, a in pairs])
    if hasattr(predict, "score_many") and len(pairs) > 1:
        from cartriage.scoring.cache import BATCH
        timed(f"score_many(), {BATCH} a batch", lambda: [
            predict.score_many(pairs[k:k + BATCH], config) for k in range(0, len(pairs), BATCH)])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--range")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--base", type=Path)
    parser.add_argument("--repeats", type=int, default=1,
                        help="time the scoring this many times in each process")
    args = parser.parse_args()
    what = f"batch:{args.batch}" if args.batch else args.range
    if not what:
        parser.error("give --range or --batch")
    here = Path(__file__).resolve().parents[1]
    print(f"{args.repo.name} {what}; load average {os.getloadavg()[0]:.1f}\n")
    print("| checkout | case | changes | units | CPU s | wall s | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for label, tree in ([("before", args.base.resolve())] if args.base else []) + [
            ("after", here)]:
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(tree)}
        env.pop("CARTRIAGE_MODEL_DIR", None)
        done = subprocess.run([sys.executable, "-c", RUN, str(args.repo.resolve()), what,
                               str(args.repeats)],
                              capture_output=True, text=True, check=True, env=env, cwd=tree)
        for row in done.stdout.splitlines():
            print(f"| {label} {row}")


if __name__ == "__main__":
    main()
