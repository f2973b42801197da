"""The policies on hand-made problems: each behaves as its name says."""

from __future__ import annotations

import numpy as np
import pytest

from cartriage.allocation import policies
from cartriage.allocation.policies import POLICIES, Problem

COST = np.array([0.0, 10.0, 30.0, 70.0])
MISS = np.array([1.0, 0.5, 0.38, 0.36])


def problem(weight, defect, hardness=None, budget=100.0, floor=None):
    n = len(weight)
    floor = np.zeros(n, dtype=int) if floor is None else np.asarray(floor)
    return Problem(cost=np.tile(COST, (n, 1)), miss=np.tile(MISS, (n, 1)),
                   defect=np.asarray(defect, float), weight=np.asarray(weight, float),
                   hardness=np.asarray(defect if hardness is None else hardness, float),
                   allowed=np.arange(4)[None, :] >= floor[:, None], budget=budget)


def test_uniform_goes_as_deep_as_the_budget_allows_then_deepens_in_order():
    p = problem([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], budget=130)
    # single everywhere costs 40, multi everywhere 120; 10 left cannot deepen anyone
    assert policies.run("uniform", p).choice.tolist() == [2, 2, 2, 2]
    p = problem([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], budget=25)
    assert policies.run("uniform", p).choice.tolist() == [1, 1, 0, 0]


def test_difficulty_ranked_gives_the_hardest_the_deepest_that_fits():
    p = problem([25, 1, 1], [0.1, 0.2, 0.4], budget=80)
    assert policies.run("difficulty-ranked", p).choice.tolist() == [0, 1, 3]


def test_consequence_beats_difficulty_when_weights_differ():
    p = problem([25, 1, 1], [0.1, 0.2, 0.4], budget=10)
    loss = p.loss()
    by_difficulty = policies.run("difficulty-aware", p).choice
    by_consequence = policies.run("consequence-aware", p).choice
    by_priority = policies.run("priority-aware", p).choice
    rows = np.arange(3)
    assert by_consequence[0] > 0 and by_difficulty[0] == 0
    assert loss[rows, by_consequence].sum() < loss[rows, by_difficulty].sum()
    assert loss[rows, by_priority].sum() == pytest.approx(loss[rows, by_consequence].sum())


@pytest.mark.parametrize("policy", POLICIES)
def test_random_problems_respect_budget_and_minimums(policy):
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(1, 30))
        floor = np.where(rng.random(n) < 0.2, rng.integers(1, 4, n), 0)
        p = problem(rng.choice([1, 5, 25], n), rng.random(n) * 0.5, rng.random(n),
                    float(rng.integers(0, 70 * n)), floor)
        result = policies.run(policy, p)
        rows = np.arange(n)
        assert p.cost[rows, result.choice].sum() <= p.budget
        met = ~result.unmet
        assert (result.choice[met] >= floor[met]).all()
        if COST[floor].sum() <= p.budget:
            assert not result.unmet.any()
