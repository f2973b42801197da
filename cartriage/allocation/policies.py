"""Allocation policies: each turns a Problem into one strategy (column) per unit.

- uniform: the same strategy everywhere, as deep as the budget allows (the leftover deepens
  units one level further, in unit order);
- difficulty-ranked: the common heuristic: hardest units first, each gets the deepest strategy
  that still fits;
- difficulty-aware: the solver with every consequence weight equal;
- consequence-aware: the solver on the full objective weight * P(defect) * P(miss);
- priority-aware: greedy by consequence times the marginal reduction in miss probability per
  token, one strategy level at a time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from cartriage.allocation import solver

POLICIES = ("uniform", "difficulty-ranked", "difficulty-aware", "consequence-aware",
            "priority-aware")
WEIGHTED = ("consequence-aware", "priority-aware")  # the policies that see consequence


@dataclass(frozen=True)
class Problem:
    """Units x strategies (columns cheapest to deepest) with the allocator's inputs."""

    cost: np.ndarray  # (units, strategies), in the budget's currency
    miss: np.ndarray  # P(miss | strategy, unit)
    defect: np.ndarray  # P(defect | unit)
    weight: np.ndarray  # consequence weight
    hardness: np.ndarray  # predicted difficulty, for difficulty-ranked
    allowed: np.ndarray  # False below a unit's minimum strategy
    budget: float

    def loss(self, weighted: bool = True) -> np.ndarray:
        scale = self.defect * (self.weight if weighted else 1.0)
        return scale[:, None] * self.miss


@dataclass(frozen=True)
class Allocation:
    choice: np.ndarray
    unmet: np.ndarray
    multiplier: float | None = None
    lower_bound: float | None = None


def run(policy: str, problem: Problem) -> Allocation:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")
    if policy in ("difficulty-aware", "consequence-aware"):
        result = solver.solve(problem.cost, problem.loss(policy in WEIGHTED),
                              problem.budget, problem.allowed)
        return Allocation(result.choice, result.unmet, result.multiplier,
                          result.lower_bound if policy == "consequence-aware" else None)
    allowed, unmet = _affordable(problem)
    choose = {"uniform": _uniform, "difficulty-ranked": _ranked, "priority-aware": _priority}
    return Allocation(choose[policy](problem, allowed), unmet)


def _affordable(problem: Problem):
    """The allowed options, relaxed as the solver does when the minimums exceed the budget."""
    allowed = problem.allowed
    floor = np.where(allowed, problem.cost, np.inf).min(axis=1)
    if floor.sum() <= problem.budget:
        return allowed, np.zeros(len(floor), dtype=bool)
    return solver.relax_minimums(problem.cost, problem.loss(), problem.budget, allowed)


def _option_at(allowed: np.ndarray, level: int) -> np.ndarray:
    """Per unit: the deepest allowed option up to `level`, else its cheapest allowed one."""
    columns = np.arange(allowed.shape[1])
    upto = np.where(allowed & (columns <= level), columns, -1).max(axis=1)
    first = np.where(allowed, columns, allowed.shape[1]).min(axis=1)
    return np.where(upto >= 0, upto, first)


def _uniform(problem: Problem, allowed: np.ndarray) -> np.ndarray:
    rows = np.arange(len(problem.cost))
    choice = _option_at(allowed, 0)
    for level in range(1, allowed.shape[1]):
        deeper = _option_at(allowed, level)
        if problem.cost[rows, deeper].sum() > problem.budget:
            free = problem.budget - problem.cost[rows, choice].sum()
            for u in rows.tolist():  # the leftover deepens units in order
                extra = problem.cost[u, deeper[u]] - problem.cost[u, choice[u]]
                if extra <= free:
                    free -= extra
                    choice[u] = deeper[u]
            break
        choice = deeper
    return choice


def _ranked(problem: Problem, allowed: np.ndarray) -> np.ndarray:
    cost = np.where(allowed, problem.cost, np.inf)
    floor = cost.min(axis=1)
    choice = cost.argmin(axis=1)
    reserve = float(floor.sum())
    free = problem.budget
    order = np.lexsort((np.arange(len(floor)), -problem.defect, -problem.hardness))
    columns = list(range(cost.shape[1]))[::-1]
    for u in order.tolist():
        reserve -= floor[u]
        for j in columns:  # deepest first
            if allowed[u, j] and cost[u, j] <= free - reserve:
                choice[u] = j
                break
        free -= cost[u, choice[u]]
    return choice


def _priority(problem: Problem, allowed: np.ndarray) -> np.ndarray:
    loss = problem.loss()
    kept, _ = solver.frontier(problem.cost, loss, allowed)
    cost = problem.cost.tolist()
    losses = loss.tolist()
    position = [0] * len(kept)
    choice = np.fromiter((k[0] for k in kept), dtype=np.int64, count=len(kept))
    free = problem.budget - float(problem.cost[np.arange(len(kept)), choice].sum())

    def entry(u: int):
        a, b = kept[u][position[u]], kept[u][position[u] + 1]
        gain = losses[u][a] - losses[u][b]
        extra = cost[u][b] - cost[u][a]
        return (-(gain / extra) if extra > 0 else -np.inf, u)

    heap = [entry(u) for u in range(len(kept)) if len(kept[u]) > 1]
    heapq.heapify(heap)
    while heap:
        _, u = heapq.heappop(heap)
        a, b = kept[u][position[u]], kept[u][position[u] + 1]
        extra = cost[u][b] - cost[u][a]
        if extra > free:
            continue  # myopic: this unit's next level does not fit, it stays
        free -= extra
        position[u] += 1
        choice[u] = b
        if position[u] + 1 < len(kept[u]):
            heapq.heappush(heap, entry(u))
    return choice
