"""Allocation speed: 10,000 units x 4 strategies (target < 100 ms) and a 50-unit PR (< 5 ms).

Run: python benchmarks/bench_allocation.py [--baseline DIR]
Times the consequence-aware solver on a prepared Problem and `allocate()` end to end (from
Analysis and Scores to a Plan): wall and CPU time, min / median / max of several runs. With
`--baseline DIR` (another checkout, e.g. `git archive main | tar -x -C DIR`) the same cases run
there too, in a child process, interleaved run by run with this tree, for a before/after on the
same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from cartriage import allocation  # noqa: E402
from cartriage import config as configuration  # noqa: E402
from cartriage.allocation import policies  # noqa: E402
from cartriage.analysis.facts import Analysis, FileFacts, Unit  # noqa: E402
from cartriage.scoring.scores import Consequence, Difficulty, Scores, UnitScore  # noqa: E402

TIERS = ("low", "medium", "high")
WEIGHTS = {"low": 1.0, "medium": 5.0, "high": 25.0}


def synthetic(units: int, seed: int = 0) -> tuple[Analysis, Scores]:
    rng = np.random.default_rng(seed)
    paths = [f"src/m{i // 20}/f{i}.py" for i in range(units)]
    analysis = Analysis(
        files=tuple(FileFacts(path=p, language="python") for p in paths),
        units=tuple(Unit(id=p, path=p, hunks=tuple(range(int(rng.integers(1, 6)))),
                         added=int(rng.integers(1, 400)), removed=int(rng.integers(0, 100)))
                    for p in paths))
    scored = []
    for p in paths:
        c = rng.dirichlet([3, 2, 1])
        d = rng.dirichlet([4, 2, 1])
        scored.append(UnitScore(
            unit_id=p,
            consequence=Consequence(tier=TIERS[int(c.argmax())],
                                    probabilities=dict(zip(TIERS, c.tolist(), strict=True)),
                                    expected_weight=float(c @ [1.0, 5.0, 25.0])),
            difficulty=Difficulty(tier=TIERS[int(d.argmax())],
                                  probabilities=dict(zip(TIERS, d.tolist(), strict=True)),
                                  defect_probability=float(d @ [0.05, 0.2, 0.4]))))
    change = Consequence(tier="high", probabilities={"high": 1.0}, expected_weight=25.0)
    return analysis, Scores(units=tuple(scored), change=change, model_version="bench")


def timed(fn, repeat: int) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms) of each of `repeat` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def spread(values: list[float]) -> str:
    return f"{min(values):.1f}/{statistics.median(values):.1f}/{max(values):.1f}"


def measure(repeat_scale: float = 1.0) -> list[dict]:
    """Every case, timed: [{case, units, target, wall, cpu}] (ms per run)."""
    settings = configuration.load(env={})
    table = allocation.strategy_table(settings, usd=False)
    rows = []
    for units, target, repeat in ((10_000, 100, 5), (50, 5, 50)):
        analysis, scores = synthetic(units)
        prompt = np.array([allocation.estimate_prompt_tokens(u) for u in analysis.units], float)
        budget = float(table.tokens(prompt)[:, 1].sum())  # a single pass for every unit
        settings = configuration.load(env={}, overrides={("budget", "tokens"): int(budget)})
        difficulty = np.array([[s.difficulty.probabilities[t] for t in TIERS]
                               for s in scores.units])
        problem = allocation.build_problem(
            table, prompt, difficulty, [s.difficulty.defect_probability for s in scores.units],
            [s.consequence.expected_weight for s in scores.units], np.zeros(units, int), budget)
        cases = [
            ("solver (consequence-aware, Problem ready)",
             lambda p=problem: policies.run("consequence-aware", p)),
            ("priority-aware (Problem ready)", lambda p=problem: policies.run("priority-aware", p)),
            ("allocate() end to end -> Plan",
             lambda a=analysis, s=scores, c=settings: allocation.allocate(a, s, c)),
        ]
        for name, fn in cases:
            fn()  # warm up
            wall, cpu = timed(fn, max(1, int(repeat * repeat_scale)))
            rows.append({"case": name, "units": units, "target": target, "wall": wall,
                         "cpu": cpu})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="another checkout to time the same cases in")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with the baseline")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(1 / args.rounds)))
        return
    trees = {"this tree": os.path.join(os.path.dirname(__file__), "..")}
    if args.baseline:
        trees = {"baseline": args.baseline, **trees}
    results: dict[str, list[dict]] = {}
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        for label, tree in trees.items():
            done = subprocess.run(
                [sys.executable, os.path.join(tree, "benchmarks", "bench_allocation.py"),
                 "--child", "--rounds", str(args.rounds)],
                env={**os.environ, "PYTHONPATH": os.path.abspath(tree)}, capture_output=True,
                text=True, check=True)
            for row in json.loads(done.stdout):
                kept = next((r for r in results.setdefault(label, []) if r["case"] == row["case"]
                             and r["units"] == row["units"]), None)
                if kept is None:
                    results[label].append(row)
                else:
                    kept["wall"] += row["wall"]
                    kept["cpu"] += row["cpu"]
    print(f"{'tree':<11}{'case':<44}{'units':>7}  {'wall ms min/med/max':<22}"
          f"{'CPU ms min/med/max':<22}{'target':>7}")
    for label, rows in results.items():
        for r in rows:
            print(f"{label:<11}{r['case']:<44}{r['units']:>7}  {spread(r['wall']):<22}"
                  f"{spread(r['cpu']):<22}{r['target']:>7}")


if __name__ == "__main__":
    main()
