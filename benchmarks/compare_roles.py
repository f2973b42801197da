"""The roles of every file of a real change, before and after: they must be the same.

    python benchmarks/compare_roles.py --base BASE --repo REPO [--range A..B] [--runs 1]

Runs `analysis.analyze` on the change (the fan-in index warmed first) in a fresh process with
PYTHONPATH set to BASE ("before") and to this checkout ("after"), prints the CPU seconds of the
analysis and of the role patterns (`roles.detect`) in each, and compares the roles, with their
evidence, file by file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from benchmarks.variant import run_json  # noqa: E402 - the benchmarks folder, from a script

CHILD = """
import json, sys, time
from pathlib import Path
from cartriage import analysis, config as configuration, intake
from cartriage.analysis import roles
from cartriage.intake import ChangeRequest
repo = Path(sys.argv[1])
settings = configuration.load(cwd=repo, env={})
change = intake.read_change(ChangeRequest(repo=repo, rev=sys.argv[2]), settings)
analysis.analyze(change, settings)  # the fan-in index and the outline store, warm
spent = [0.0]
detect = roles.detect
def timed(*args):
    start = time.process_time()
    try:
        return detect(*args)
    finally:
        spent[0] += time.process_time() - start
roles.detect = timed
start = time.process_time()
facts = analysis.analyze(change, settings)
print(json.dumps({"cpu": time.process_time() - start, "roles_cpu": spent[0],
                  "roles": {f.path: [[h.role, h.evidence] for h in f.roles]
                            for f in facts.files}}))
"""


def measure(code: Path, repo: Path, span: str) -> dict:
    return run_json(code, CHILD, str(repo), span, what="the analysis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--range", dest="span", default="HEAD^!")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(args.runs):
        for variant, code in (("before", args.base.resolve()), ("after", HERE)):
            results[variant].append(measure(code, args.repo.resolve(), args.span))
    before, after = results["before"][0]["roles"], results["after"][0]["roles"]
    print(f"{args.repo.name} {args.span}: {len(before)} files, "
          f"{sum(map(len, before.values()))} role hits, {args.runs} runs")
    print("| variant | analysis CPU s (median) | role patterns CPU s (median) |\n|---|---|---|")
    for variant, runs in results.items():
        print(f"| {variant} | {statistics.median(r['cpu'] for r in runs):.3f} | "
              f"{statistics.median(r['roles_cpu'] for r in runs):.3f} |")
    differing = [path for path in before.keys() | after.keys()
                 if before.get(path) != after.get(path)]
    print("same roles before and after:", "yes" if not differing else
          f"NO, {len(differing)} files differ: {sorted(differing)[:10]}")
    if differing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
