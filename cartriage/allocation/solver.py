"""A multiple-choice knapsack: one option (strategy) per unit, total cost within the budget.

Minimise sum_u loss[u, choice[u]] subject to sum_u cost[u, choice[u]] <= budget.

1. Per unit, drop dominated options (costlier and no better) and LP-dominated ones (above the
   lower convex hull of cost vs loss). The hull's segments have falling loss reduction per unit
   of cost ("efficiency").
2. The Lagrangian relaxation min sum_u min_j (loss[u, j] + lam * cost[u, j]) takes, for a
   multiplier lam, every hull segment whose efficiency exceeds lam. Its cost falls as lam rises,
   so a binary search over lam (over the sorted segment efficiencies, where the relaxed solution
   changes) finds the smallest lam whose solution fits. At that lam the one segment that does not
   fit is the LP's fractional item; the LP value is a lower bound on the optimum.
3. The leftover budget is filled greedily: repeatedly apply the upgrade (to any non-dominated
   option) with the largest loss reduction per unit of cost that still fits.

Bound: the result exceeds the optimum by at most theta * dl of the fractional segment (theta its
LP fraction, dl its loss reduction), hence by at most the largest single-segment loss reduction.
Ties are broken by unit and option index, so the result is deterministic.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

_EPS = 1e-12


@dataclass(frozen=True)
class Solution:
    """The chosen option per unit and what the solver knows about its quality."""

    choice: np.ndarray  # option index per unit
    cost: float
    loss: float
    lower_bound: float  # LP relaxation value: no assignment within the budget does better
    gap_bound: float  # loss - optimum <= gap_bound
    multiplier: float  # lam: the loss reduction per unit of cost at the cut
    unmet: np.ndarray  # units whose minimum did not fit the budget


def frontier(cost: np.ndarray, loss: np.ndarray, allowed: np.ndarray | None = None):
    """Per unit: (non-dominated options, hull options), each cheapest first, as lists."""
    order, kept, hull = frontier_masks(cost, loss, allowed)
    kept_cols = np.where(kept, order, -1).tolist()
    hull_cols = np.where(hull, order, -1).tolist()
    return ([[j for j in row if j >= 0] for row in kept_cols],
            [[j for j in row if j >= 0] for row in hull_cols])


def frontier_masks(cost: np.ndarray, loss: np.ndarray, allowed: np.ndarray | None = None):
    """Vectorised over units: `order` sorts each unit's options by cost (then loss, index);
    `kept` and `hull` (in that sorted order) mark non-dominated and lower-hull options."""
    rows, columns = cost.shape
    valid = np.ones(cost.shape, dtype=bool) if allowed is None else allowed
    keyed = np.where(valid, cost, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(columns), cost.shape), loss, keyed), axis=1)
    c = np.take_along_axis(np.where(valid, cost, 0.0), order, axis=1)
    lo = np.take_along_axis(loss, order, axis=1)
    ok = np.take_along_axis(valid, order, axis=1)
    best_before = np.minimum.accumulate(np.where(ok, lo, np.inf), axis=1)
    best_before = np.concatenate([np.full((rows, 1), np.inf), best_before[:, :-1]], axis=1)
    kept = ok & (lo < best_before - _EPS)
    # a kept option is a hull vertex iff it lies strictly below every chord between a kept
    # option on its left and one on its right
    hull = kept.copy()
    for a in range(columns):
        for j in range(a + 1, columns):
            for b in range(j + 1, columns):
                above = ((lo[:, j] - lo[:, a]) * (c[:, b] - c[:, j])
                         - (lo[:, b] - lo[:, j]) * (c[:, j] - c[:, a])) >= 0
                hull[:, j] &= ~(kept[:, a] & kept[:, b] & above)
    return order, kept, hull


def solve(cost: np.ndarray, loss: np.ndarray, budget: float,
          allowed: np.ndarray | None = None) -> Solution:
    """Solve the knapsack; `allowed[u, j]` False forbids option j for unit u (a minimum).

    When the allowed options alone exceed the budget, the budget wins: minimums are met for the
    units where meeting them saves the most loss per unit of cost, the others may only take options
    below their minimum (reported in `unmet`).
    """
    cost = np.asarray(cost, dtype=float)
    loss = np.asarray(loss, dtype=float)
    rows = cost.shape[0]
    unmet = np.zeros(rows, dtype=bool)
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        floor = np.where(allowed, cost, np.inf).min(axis=1)
        if floor.sum() > budget + _EPS:
            allowed, unmet = relax_minimums(cost, loss, budget, allowed)
    floor = cost if allowed is None else np.where(allowed, cost, np.inf)
    if floor.min(axis=1).sum() > budget + _EPS:
        raise ValueError("even the cheapest options exceed the budget")
    return _solve(cost, loss, budget, allowed, unmet)


def relax_minimums(cost, loss, budget, allowed):
    """Choose which units keep their minimum when all minimums do not fit the budget.

    Returns the relaxed `allowed` (units that lose their minimum may take only options below
    it) and the mask of those units.
    """
    cheapest = cost.argmin(axis=1)
    rows = np.arange(cost.shape[0])
    forced = ~allowed[rows, cheapest]
    floor_option = np.where(allowed, cost, np.inf).argmin(axis=1)
    # a two-option knapsack: the cheapest option overall, or the cheapest allowed one
    two_cost = np.stack([cost[rows, cheapest], cost[rows, floor_option]], axis=1)
    gain = np.where(forced, loss[rows, cheapest] - loss[rows, floor_option], 0.0)
    two_loss = np.stack([np.maximum(gain, 0.0) + _EPS * forced, np.zeros(len(rows))], axis=1)
    two_allowed = np.ones_like(two_cost, dtype=bool)
    two_allowed[~forced, 0] = False
    met = _solve(two_cost, two_loss, budget, two_allowed, np.zeros(len(rows), bool)).choice == 1
    unmet = forced & ~met
    allowed = allowed.copy()
    allowed[unmet] = ~allowed[unmet]  # below the minimum: the best that is still affordable
    return allowed, unmet


def _solve(cost, loss, budget, allowed, unmet) -> Solution:
    rows = cost.shape[0]
    index = np.arange(rows)
    order, kept, hull = frontier_masks(cost, loss, allowed)
    choice = order[index, hull.argmax(axis=1)].astype(np.int64)  # the cheapest hull option
    base_cost = float(cost[index, choice].sum())
    # hull segments: consecutive hull options of a unit (np.nonzero walks rows in order)
    unit, position = np.nonzero(hull)
    column = order[unit, position]
    pair = np.flatnonzero(unit[1:] == unit[:-1])
    seg_unit, seg_from, seg_to = unit[pair], column[pair], column[pair + 1]
    seg_dc = cost[seg_unit, seg_to] - cost[seg_unit, seg_from]
    seg_dl = loss[seg_unit, seg_from] - loss[seg_unit, seg_to]
    seg_eff = seg_dl / seg_dc
    first = np.r_[True, seg_unit[1:] != seg_unit[:-1]] if len(pair) else np.zeros(0, bool)
    seg_k = np.arange(len(pair)) - np.maximum.accumulate(np.where(first, np.arange(len(pair)),
                                                                  0))
    for level in range(1, cost.shape[1]):  # efficiencies non-increasing per unit (rounding)
        at = np.flatnonzero(seg_k == level)
        seg_eff[at] = np.minimum(seg_eff[at], seg_eff[at - 1])
    free = budget - base_cost
    multiplier, theta, frac_dl = 0.0, 0.0, 0.0
    if len(pair):
        ranked = np.lexsort((seg_k, seg_unit, -seg_eff))
        cumulative = np.cumsum(seg_dc[ranked])
        # binary search on the multiplier: the longest prefix of segments, by falling
        # efficiency, that fits; the next segment's efficiency is the multiplier
        taken = int(np.searchsorted(cumulative, free + _EPS, side="right"))
        if taken:
            last = ranked[:taken]
            last = last[np.lexsort((seg_k[last], seg_unit[last]))]
            final = np.r_[seg_unit[last][1:] != seg_unit[last][:-1], True]
            choice[seg_unit[last][final]] = seg_to[last][final]
            free -= float(cumulative[taken - 1])
        if taken < len(ranked):
            cut = ranked[taken]
            multiplier = float(seg_eff[cut])
            theta = max(0.0, min(1.0, free / float(seg_dc[cut])))
            frac_dl = float(seg_dl[cut])
    integral_loss = float(loss[index, choice].sum())
    lower_bound = integral_loss - theta * frac_dl
    kept_cols = np.zeros(cost.shape, dtype=bool)
    kept_cols[np.nonzero(kept)[0], order[kept]] = True
    _fill(choice, kept_cols, cost, loss, free)
    total_cost = float(cost[index, choice].sum())
    total_loss = float(loss[index, choice].sum())
    return Solution(choice=choice, cost=total_cost, loss=total_loss, lower_bound=lower_bound,
                    gap_bound=max(0.0, total_loss - lower_bound), multiplier=multiplier,
                    unmet=unmet)


def _fill(choice: np.ndarray, kept: np.ndarray, cost: np.ndarray, loss: np.ndarray,
          free: float) -> None:
    """Greedy fill of the leftover budget by loss reduction per unit of cost (in place).

    `kept` marks each unit's non-dominated options (by column)."""
    index = np.arange(len(choice))

    def candidates(units: np.ndarray, budget: float):
        """Best fitting upgrade (ratio, option) for each of `units`, or ratio -inf."""
        extra = cost[units] - cost[units, choice[units]][:, None]
        gain = loss[units, choice[units]][:, None] - loss[units]
        fits = kept[units] & (gain > _EPS) & (extra <= budget + _EPS)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(fits, np.where(extra > 0, gain / extra, np.inf), -np.inf)
        best = ratio.argmax(axis=1)
        return ratio[np.arange(len(units)), best], best

    ratio, best = candidates(index, free)
    live = np.flatnonzero(ratio > -np.inf)
    heap = list(zip((-ratio[live]).tolist(), live.tolist(), best[live].tolist(),
                    choice[live].tolist(), strict=True))
    heapq.heapify(heap)
    # re-candidates one unit at a time: plain Python over its few options beats numpy calls
    cost_rows, loss_rows, kept_rows = {}, {}, {}
    while heap:
        _, u, j, was = heapq.heappop(heap)
        if choice[u] != was:
            continue
        if u not in cost_rows:
            cost_rows[u], loss_rows[u], kept_rows[u] = (
                cost[u].tolist(), loss[u].tolist(), kept[u].tolist())
        row_cost, row_loss = cost_rows[u], loss_rows[u]
        extra = row_cost[j] - row_cost[was]
        if extra <= free + _EPS:
            free -= extra
            choice[u] = was = j
        best_ratio, best_option = -np.inf, 0
        for option, fits in enumerate(kept_rows[u]):  # as `candidates` for one unit
            extra = row_cost[option] - row_cost[was]
            gain = row_loss[was] - row_loss[option]
            if fits and gain > _EPS and extra <= free + _EPS:
                r = gain / extra if extra > 0 else np.inf
                if r > best_ratio:
                    best_ratio, best_option = r, option
        if best_ratio > -np.inf:
            heapq.heappush(heap, (-best_ratio, u, best_option, was))
