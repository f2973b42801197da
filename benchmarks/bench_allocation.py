"""Allocation speed: 10,000 units x 4 strategies (target < 100 ms) and a 50-unit PR (< 5 ms).

Run: python benchmarks/bench_allocation.py
Times the consequence-aware solver on a prepared Problem and `allocate()` end to end (from
Analysis and Scores to a Plan), best of several runs.
"""

from __future__ import annotations

import os
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


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    settings = configuration.load(env={})
    table = allocation.strategy_table(settings, usd=False)
    print(f"{'case':<44}{'units':>7}{'best ms':>10}{'target':>9}")
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
            print(f"{name:<44}{units:>7}{best_of(fn, repeat):>10.2f}{target:>9}")


if __name__ == "__main__":
    main()
