"""The knapsack solver against an exact dynamic program on small instances."""

from __future__ import annotations

import numpy as np
import pytest

from cartriage.allocation.solver import frontier, solve


def exact(cost: np.ndarray, loss: np.ndarray, budget: int, allowed=None) -> float:
    """Dynamic program over integer budgets: best[b] = least loss using at most b."""
    best = np.zeros(budget + 1)
    for u in range(cost.shape[0]):
        nxt = np.full(budget + 1, np.inf)
        for j in range(cost.shape[1]):
            if allowed is not None and not allowed[u, j]:
                continue
            c = int(cost[u, j])
            if c <= budget:
                nxt[c:] = np.minimum(nxt[c:], best[: budget + 1 - c] + loss[u, j])
        best = nxt
    return float(best[budget])


def instance(rng, units, options=4):
    cost = np.sort(rng.integers(1, 30, (units, options)), axis=1).astype(float)
    cost[:, 0] = 0.0
    miss = np.sort(rng.random((units, options)), axis=1)[:, ::-1]
    miss[:, 0] = 1.0
    loss = miss * rng.integers(1, 26, (units, 1)) * rng.random((units, 1))
    return cost, loss


def largest_segment_gain(cost, loss):
    """The theory's bound: the largest loss reduction of one hull segment of any unit."""
    _, hulls = frontier(cost, loss)
    return max((loss[u, h[k - 1]] - loss[u, h[k]] for u, h in enumerate(hulls)
                for k in range(1, len(h))), default=0.0)


@pytest.mark.parametrize("seed", range(6))
def test_gap_to_exact_optimum_within_the_lagrangian_bound(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        cost, loss = instance(rng, int(rng.integers(1, 9)))
        budget = int(rng.integers(0, int(cost.sum()) + 5))
        solution = solve(cost, loss, budget)
        optimum = exact(cost, loss, budget)
        assert solution.cost <= budget
        assert solution.cost == pytest.approx(cost[np.arange(len(cost)), solution.choice].sum())
        assert solution.lower_bound <= optimum + 1e-9
        # loss - OPT <= theta * dl(fractional segment) <= the largest segment's loss reduction
        assert solution.loss - optimum <= solution.gap_bound + 1e-9
        assert solution.gap_bound <= largest_segment_gain(cost, loss) + 1e-9


def test_exact_when_the_budget_covers_everything_or_nothing():
    rng = np.random.default_rng(7)
    cost, loss = instance(rng, 6)
    everything = solve(cost, loss, cost.sum())
    assert everything.loss == pytest.approx(loss.min(axis=1).sum())
    nothing = solve(cost, loss, 0)
    assert (nothing.choice == 0).all()


def test_dominated_options_are_never_chosen():
    cost = np.array([[0.0, 10.0, 20.0, 30.0]] * 3)
    loss = np.array([[10.0, 5.0, 6.0, 1.0]] * 3)  # option 2 costs more than 1 and loses more
    for budget in range(0, 91, 5):
        assert 2 not in solve(cost, loss, budget).choice


def test_lp_dominated_option_still_reachable_by_the_greedy_fill():
    # option 1 lies above the hull from 0 to 2, but when 2 does not fit, 1 is the best use
    cost = np.array([[0.0, 6.0, 10.0]])
    loss = np.array([[10.0, 6.0, 0.0]])
    assert solve(cost, loss, 7).choice.tolist() == [1]
    assert solve(cost, loss, 10).choice.tolist() == [2]


def test_deterministic_with_ties():
    cost = np.array([[0.0, 10.0]] * 5)
    loss = np.array([[4.0, 2.0]] * 5)
    first = solve(cost, loss, 25).choice.tolist()
    assert first == solve(cost, loss, 25).choice.tolist()
    assert first == [1, 1, 0, 0, 0]


def test_minimums_hold_when_they_fit():
    rng = np.random.default_rng(3)
    cost, loss = instance(rng, 6)
    allowed = np.ones_like(cost, dtype=bool)
    allowed[0, :2] = False  # unit 0 needs at least option 2
    budget = int(cost[0, 2]) + 5
    solution = solve(cost, loss, budget, allowed)
    assert solution.choice[0] >= 2
    assert solution.cost <= budget
    assert not solution.unmet.any()
    assert solution.loss - exact(cost, loss, budget, allowed) <= solution.gap_bound + 1e-9


def test_minimums_over_budget_keep_the_budget_and_report_the_unmet():
    cost = np.array([[0.0, 10.0, 30.0]] * 3)
    loss = np.array([[5.0, 3.0, 1.0], [50.0, 30.0, 10.0], [9.0, 6.0, 2.0]])
    allowed = np.ones_like(cost, dtype=bool)
    allowed[:, :2] = False  # every unit needs option 2: 90 > 65
    solution = solve(cost, loss, 65, allowed)
    assert solution.cost <= 65
    assert solution.unmet.tolist() == [True, False, False]  # the least valuable minimum goes
    assert solution.choice[1:].tolist() == [2, 2]
    assert solution.choice[0] == 0  # 5 tokens left: option 1 (10) does not fit
