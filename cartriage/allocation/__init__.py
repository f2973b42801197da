"""Allocation: split a review budget across units and strategies by expected cost-weighted loss.

Entry points: `allocate(analysis, scores, config, policy=None, change=None) -> Plan` for one
change and `plan_batch(changes, config, policy=None) -> BatchPlan` for many changes under one
budget. Given the change, each unit is priced with the context each strategy sends
(`cartriage.context`); without it (and in a batch) every strategy is priced with hunks only, and
the plan says so in each assignment's `context`.
numpy and the solver are imported inside the functions: reading a cached Plan (which imports
`cartriage.allocation.plan`, hence this package) must not load numpy.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import compress
from typing import TYPE_CHECKING, NamedTuple

from cartriage import calibration, strategies
from cartriage.allocation import plan
from cartriage.allocation.cost import call_usd, estimate_prompt_tokens, model_prices
from cartriage.allocation.plan import Assignment, BatchPlan, Plan
from cartriage.errors import CartriageError, ConfigError
from cartriage.review.redact import is_secret_file
from cartriage.strategies.miss import TIERS

if TYPE_CHECKING:
    import numpy as np

    from cartriage.allocation import policies
    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config
    from cartriage.intake.change import ChangeSet
    from cartriage.scoring.scores import Scores

__all__ = ["allocate", "plan_batch", "budget_caps", "estimate_prompt_tokens", "StrategyTable",
           "strategy_table", "build_problem"]


@dataclass(frozen=True)
class StrategyTable:
    """Per strategy (cheapest first): tokens = a * prompt + b, USD likewise, miss per tier."""

    strategies: tuple[strategies.Strategy, ...]
    names: tuple[str, ...]
    params: tuple[dict, ...]
    token_a: np.ndarray
    token_b: np.ndarray
    usd_a: np.ndarray | None
    usd_b: np.ndarray | None
    miss_tier: np.ndarray  # (strategies, 3): P(miss | strategy, tier low/medium/high)
    attempts: np.ndarray
    miss_source: str | None = None  # the calibration the misses were measured in, if any

    def tokens(self, prompt_tokens: np.ndarray) -> np.ndarray:
        """(units, strategies) tokens from one prompt per unit, or one per unit and strategy
        (the prompt with the context that strategy sends)."""
        import numpy as np

        return np.rint(_per_strategy(prompt_tokens) * self.token_a + self.token_b)

    def usd(self, prompt_tokens: np.ndarray) -> np.ndarray | None:
        if self.usd_a is None:
            return None
        return _per_strategy(prompt_tokens) * self.usd_a + self.usd_b


def _per_strategy(prompt_tokens: np.ndarray) -> np.ndarray:
    return prompt_tokens[:, None] if prompt_tokens.ndim == 1 else prompt_tokens


def strategy_table(config: Config, usd: bool | None = None) -> StrategyTable:
    """The strategies' cost and miss model from the configuration (USD only if asked)."""
    import numpy as np

    usd = config.get("budget", "usd") is not None if usd is None else usd
    chosen = strategies.all_strategies()
    params = tuple(s.settings(config) for s in chosen)
    calls = [s.calls(p) for s, p in zip(chosen, params, strict=True)]
    token_a = np.array([sum(c.prompt_copies for c in cs) for cs in calls], dtype=float)
    token_b = np.array([sum(c.extra_input + c.output for c in cs) for cs in calls], dtype=float)
    usd_a = usd_b = None
    if usd:
        prices = {m: model_prices(m) for cs in calls for m in {c.model for c in cs}}
        usd_b = np.array([sum(call_usd(c, 0, prices) for c in cs) for cs in calls])
        usd_a = np.array([sum(call_usd(c, 1, prices) for c in cs) for cs in calls]) - usd_b
    miss = [s.miss_by_tier(p) for s, p in zip(chosen, params, strict=True)]
    measured = calibration.configured(config)
    if measured is not None:  # the user's model, measured, instead of the documented model
        miss = measured.misses(tuple(s.name for s in chosen), miss,
                               tuple(p.get("context") or "hunks" for p in params))
    attempts = np.array([s.attempts(p) for s, p in zip(chosen, params, strict=True)])
    return StrategyTable(chosen, tuple(s.name for s in chosen), params, token_a, token_b,
                         usd_a, usd_b,
                         np.array(miss), attempts,
                         measured.describe() if measured is not None else None)


def build_problem(table: StrategyTable, prompt_tokens, difficulty, defect, weight, floor,
                  budget: float, usd: bool = False, ceiling=None) -> policies.Problem:
    """A Problem from per-unit arrays; `difficulty` is (units, 3) tier probabilities.

    `floor` and `ceiling` are per-unit strategy indexes: the cheapest and deepest allowed."""
    import numpy as np

    from cartriage.allocation import policies

    prompt_tokens = np.asarray(prompt_tokens, dtype=float)
    difficulty = np.asarray(difficulty, dtype=float).reshape(-1, len(TIERS))
    cost = table.usd(prompt_tokens) if usd else table.tokens(prompt_tokens)
    floor = np.asarray(floor, dtype=int)
    columns = np.arange(len(table.names))[None, :]
    allowed = columns >= floor[:, None]
    if ceiling is not None:
        allowed &= columns <= np.asarray(ceiling, dtype=int)[:, None]
    return policies.Problem(
        cost=cost, miss=difficulty @ table.miss_tier.T, defect=np.asarray(defect, dtype=float),
        weight=np.asarray(weight, dtype=float), hardness=difficulty @ np.arange(len(TIERS)),
        allowed=allowed, budget=float(budget))


SECRET_REASON = "skipped: the file may hold secrets (.env, keys, credentials), so it is never sent"


def _policy(config: Config, policy: str | None) -> str:
    from cartriage.allocation import policies

    chosen = policy or config.get("review", "policy")
    if chosen not in policies.POLICIES:
        raise ConfigError(f"unknown policy {chosen!r}: use one of {', '.join(policies.POLICIES)}")
    return chosen


def budget_caps(config: Config) -> tuple[float | None, float | None]:
    """(token cap, USD cap); None: no cap on that axis.

    Both caps hold when both are configured. A dollar budget replaces the built-in default
    token budget (100,000), not one that was set in a file, the environment or a flag.
    """
    usd, tokens = config.get("budget", "usd"), config.get("budget", "tokens")
    if usd is not None and config.sources.get("budget.tokens", "default") == "default":
        tokens = None
    if usd is None and tokens is None:
        raise ConfigError("no budget: set [budget] tokens or usd, or pass --budget")
    return (None if tokens is None else float(tokens)), (None if usd is None else float(usd))


def _minimum(unit, minimums, facts_by_path, order) -> tuple[int, str | None]:
    """(the strategy index the rules' minimums set for `unit`, the rule that sets it)."""
    floor, forced = 0, None
    facts = facts_by_path.get(unit.path)
    roles = facts.role_names if facts else ()
    for rule in minimums:
        if rule.matches(unit.path, roles):
            level = order.index(rule.min_strategy)
            if level > floor:
                floor, forced = level, rule.describe()
    return floor, forced


@dataclass
class _Units:
    """Per-unit inputs gathered from analysis and scores (for one or many changes)."""

    ids: list[str]
    change: list[str | None]
    prompt: list[int]
    context: list[list[int]] | None  # per unit and strategy: context tokens (None: none at all)
    built: list[list[tuple[str, str]]]  # per unit and strategy: (context level built, note)
    difficulty: list[float]  # per unit, its tier probabilities (TIERS), one unit after another
    defect: list[float]
    weight: list[float]
    floor: list[int]
    forced_by: list[str | None]
    ceiling: list[int]
    never: list[str]  # why the unit is never sent (secrets, binary), or ""

    @classmethod
    def empty(cls) -> _Units:
        return cls([], [], [], None, [], [], [], [], [], [], [], [])

    def add(self, analysis: Analysis, scores: Scores, config: Config, label: str | None,
            change: ChangeSet | None = None):
        """Append the units of one change (a column at a time: 10,000 units in a few ms)."""
        by_id = {s.unit_id: s for s in scores.units}
        units = analysis.units
        scored = [by_id.get(unit.id) for unit in units]
        missing = next((u for u, s in enumerate(scored) if s is None), None)
        if missing is not None:  # not `None in scored`: that calls every UnitScore's __eq__
            unit = units[missing]
            raise CartriageError(f"no scores for unit {unit.id!r}: scoring and analysis "
                                 "disagree")
        minimums = [rule for rule in config.rules if rule.min_strategy]
        facts_by_path = {f.path: f for f in analysis.files} if minimums else {}
        order = strategies.names()
        deepest = len(order) - 1
        secret = {path: is_secret_file(path) for path in {unit.path for unit in units}}
        # Never sent, so never worth a token: files that may hold secrets, binary files.
        never = [SECRET_REASON if secret[unit.path] else (
                 f"skipped: {unit.skip_reason}" if unit.skip_reason else "") for unit in units]
        minimum = [(0, None)] * len(units)
        if minimums:
            minimum = [_minimum(unit, minimums, facts_by_path, order) for unit in units]
        self.never += never
        kept = list(zip(never, minimum, strict=True))
        self.floor += [0 if reason else floor for reason, (floor, _) in kept]
        self.forced_by += [None if reason else by for reason, (_, by) in kept]
        self.ceiling += [0 if reason else deepest for reason in never]
        self.ids += [unit.id for unit in units]
        self.change += [label] * len(units)
        self.prompt += [estimate_prompt_tokens(unit) for unit in units]
        self._add_context(analysis, config, change, len(units))
        self.difficulty += [probs.get(tier, 0.0) for probs in
                            (s.difficulty.probabilities for s in scored) for tier in TIERS]
        self.defect += [float(s.difficulty.defect_probability) for s in scored]
        self.weight += [float(s.consequence.expected_weight) for s in scored]


    def _add_context(self, analysis: Analysis, config: Config, change: ChangeSet | None,
                     count: int) -> None:
        """The context each strategy's level adds to each new unit, built as the review will
        build it (`context.build`: a level over its limit falls back to a smaller one)."""
        levels = [config.strategy(name).get("context") or "hunks" for name in strategies.names()]
        units = analysis.units
        if change is None or set(levels) == {"hunks"}:
            self.built += [[("hunks", "")] * len(levels)] * len(units)  # rows are never changed
            if self.context is not None:
                self.context += [[0] * len(levels)] * len(units)
            return
        from cartriage import context

        if self.context is None:
            self.context = [[0] * len(levels) for _ in self.ids[:len(self.ids) - count]]
        files: dict = {}  # each new file parsed once for all its units and levels
        for unit, never in zip(units, self.never[len(self.never) - count:], strict=True):
            made = {level: context.Context("hunks") if never or level == "hunks"
                    else context.build(change, analysis, unit, level, files=files)
                    for level in dict.fromkeys(levels)}
            self.context.append([made[level].tokens for level in levels])
            self.built.append([(made[level].level, made[level].note) for level in levels])


@contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector: a plan of 10,000 units makes some 100,000
    objects and no cycles, and the collections their allocation sets off cost ~15 ms."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@_collector_paused()
def allocate(analysis: Analysis, scores: Scores, config: Config, policy: str | None = None,
             change: ChangeSet | None = None) -> Plan:
    """Choose a strategy per unit within the configured budget ([budget] tokens or usd);
    with `change`, each strategy is priced with the context it sends."""
    units = _Units.empty()
    units.add(analysis, scores, config, None, change)
    return _plans(units, config, _policy(config, policy))[0][0]


@_collector_paused()
def plan_batch(changes: Sequence[tuple[str, Analysis, Scores]], config: Config,
               policy: str | None = None) -> BatchPlan:
    """Plan several changes, given as (label, analysis, scores), under one global budget.

    The configured budget ([budget] tokens or usd, or --budget) is the total for all changes.
    Each returned Plan carries its change label and its share of the budget.
    """
    units = _Units.empty()
    for label, analysis, scores in changes:
        units.add(analysis, scores, config, label)
    chosen = _policy(config, policy)
    plans, total = _plans(units, config, chosen, labels=[c[0] for c in changes])
    return BatchPlan(policy=chosen, plans=tuple(plans), budget_tokens=total.budget_tokens,
                     budget_usd=total.budget_usd, total_tokens=total.total_tokens,
                     total_usd=total.total_usd, expected_loss=total.expected_loss,
                     notes=total.notes + total.details)


def _plans(units: _Units, config: Config, policy: str, labels: Sequence[str] | None = None):
    import numpy as np

    from cartriage.allocation import policies

    caps = budget_caps(config)
    table = strategy_table(config, caps[1] is not None)
    n = len(units.ids)
    prompt = np.asarray(units.prompt, dtype=float)
    if units.context is not None:  # each strategy's prompt carries its context
        prompt = prompt[:, None] + np.asarray(units.context, dtype=float).reshape(
            n, len(table.names))
    tokens = table.tokens(prompt)
    dollars = table.usd(prompt)
    difficulty = np.asarray(units.difficulty, dtype=float).reshape(n, len(TIERS))

    base = build_problem(table, prompt, difficulty, units.defect, units.weight, units.floor,
                         caps[0] if caps[0] is not None else 0.0, ceiling=units.ceiling)
    min_gain = config.get("budget", "min_gain_per_1k_tokens")
    # The value floor weighs loss by consequence, so only the policies that see consequence
    # use it; the baselines stay what they claim to be.
    worth = (_worth_buying(base, tokens, min_gain) if policy in policies.WEIGHTED
             else base.allowed)
    cut = base.allowed & ~worth
    allowed = base.allowed
    base = replace(base, allowed=worth)
    result = _run_policy(policy, base, tokens, dollars, caps)
    loss = base.loss()
    rows = np.arange(n)
    choice = result.choice
    left = (None if caps[0] is None else caps[0] - tokens[rows, choice].sum(),
            None if caps[1] is None else caps[1] - dollars[rows, choice].sum())
    why = _Why(policy, caps, left, dollars, min_gain)
    deepest = np.where(worth, np.arange(worth.shape[1])[None, :], -1).max(axis=1)
    never = [bool(reason) for reason in units.never]
    over, extra, saved = _next_cheaper(tokens, loss, choice)
    cheapest, best = _skip_options(tokens, loss, allowed)
    too_large, room = _skip_budget(tokens, dollars, cheapest, caps, left)
    rows_of = _Rows(tokens, loss, choice.tolist(),
                    result.unmet.tolist(), over.tolist(), extra.tolist(), saved.tolist(),
                    cheapest.tolist(), best.tolist(), worth[:, 1:].any(axis=1).tolist(),
                    too_large.tolist(), room.tolist())
    shared = _Shared(
        policy=policy, caps=caps, tokens=tokens, dollars=dollars, loss=loss, choice=choice,
        result=result, min_gain=min_gain, floor_cut=bool(cut.any()),
        held=frozenset(units.ids[u] for u in np.flatnonzero(cut.any(axis=1)
                                                             & (choice == deepest))),
        never=frozenset(compress(units.ids, never)),
        unmet=frozenset(compress(units.ids, (np.asarray(result.unmet, bool)
                                             & ~np.asarray(never, bool)).tolist())),
        miss_source=table.miss_source)
    at = rows, choice  # each unit's chosen option
    picked = _Picked(
        tokens=tokens[at].astype(int).tolist(),
        usd=None if dollars is None else dollars[at].tolist(),
        expected_loss=loss[at].tolist(), loss_if_skipped=loss[:, 0].tolist(),
        miss=base.miss[at].tolist(),
        prompt_tokens=(prompt[at] if prompt.ndim == 2 else prompt).astype(int).tolist())
    assignments = _assignments(units, table, rows_of, why, picked)
    if labels is None:  # one change: its plan is the whole
        return [_plan(shared, assignments, rows, None)], None
    plans = []
    for label in labels:
        members = [u for u in range(n) if units.change[u] == label]
        plans.append(_plan(shared, [assignments[u] for u in members], members, label))
    return plans, _plan(shared, assignments, rows, None)


def _worth_buying(problem: policies.Problem, tokens: np.ndarray, min_gain: float) -> np.ndarray:
    """Options worth their tokens: along each unit's lower convex hull of (tokens, expected
    loss), from its cheapest allowed option, stop at the first step that saves less than
    `min_gain` per 1,000 tokens; deeper options are left out. Minimums are kept.

    Vectorised over units: one step per strategy along the hulls (cheapest first)."""
    import numpy as np

    from cartriage.allocation import solver

    worth = problem.allowed.copy()
    if min_gain <= 0:
        return worth
    loss = problem.loss()
    order, _, hull = solver.frontier_masks(tokens, loss, problem.allowed)
    cost = np.take_along_axis(tokens, order, axis=1)
    loss = np.take_along_axis(loss, order, axis=1)
    rows = np.arange(len(tokens))
    last = hull.argmax(axis=1)  # the cheapest hull option
    going = hull.any(axis=1)
    for j in range(1, hull.shape[1]):
        step = going & hull[:, j] & (j > last)
        saves = (loss[rows, last] - loss[:, j]) * 1000 >= min_gain * (cost[:, j] - cost[rows, last])
        going &= ~step | saves
        last = np.where(step & saves, j, last)
    worth &= tokens <= cost[rows, last][:, None] + 1e-9
    return worth


def _run_policy(policy, base, tokens, dollars, caps) -> policies.Allocation:
    """Run the policy under every configured cap (tokens and/or USD), each a hard limit.

    With one cap this is one run. With both, the policy runs with each cap alone and with the
    cost normalised as max(tokens / token cap, USD / USD cap) against 1 (whose plans keep both
    caps); of the plans that keep both caps, the one best by the policy's own objective wins.
    A cap left out only lowers the optimum, so the larger of the two single-cap LP bounds
    remains a lower bound.
    """
    import numpy as np

    from cartriage.allocation import policies

    tok_cap, usd_cap = caps
    if usd_cap is None:
        return policies.run(policy, base)
    if tok_cap is None:
        return policies.run(policy, replace(base, cost=dollars, budget=usd_cap))
    runs = [policies.run(policy, base),
            policies.run(policy, replace(base, cost=dollars, budget=usd_cap))]
    if tok_cap > 0 and usd_cap > 0:
        scaled = np.maximum(tokens / tok_cap, dollars / usd_cap)
        runs.append(policies.run(policy, replace(base, cost=scaled, budget=1.0)))
    rows = np.arange(len(tokens))
    objective = base.loss(policy in policies.WEIGHTED)

    def keeps_both(run):
        return (tokens[rows, run.choice].sum() <= tok_cap + 1e-9
                and dollars[rows, run.choice].sum() <= usd_cap + 1e-12)

    feasible = [r for r in runs if keeps_both(r)] or runs[-1:]
    best = min(feasible, key=lambda r: float(objective[rows, r.choice].sum()))
    bounds = [r.lower_bound for r in runs[:2] if r.lower_bound is not None]
    return replace(best, lower_bound=max(bounds) if bounds else None)


@dataclass(frozen=True)
class _Why:
    """What a unit's reason needs beyond its own row: the budget left, the value floor."""

    policy: str
    caps: tuple[float | None, float | None]  # (tokens, USD)
    left: tuple[float | None, float | None]  # budget the plan leaves unused
    dollars: np.ndarray | None
    min_gain: float


class _Rows(NamedTuple):
    """The plan's figures per unit: lists (reading numpy arrays an element at a time is slow),
    except the (units, options) arrays that only skipped units' reasons read."""

    tokens: np.ndarray
    loss: np.ndarray
    choice: list[int]
    unmet: list[bool]
    over: list[int]  # the option each unit's choice is compared with (`_next_cheaper`)
    extra: list[float]  # tokens the choice costs over it
    saved: list[float]  # expected loss the choice saves over it
    cheapest: list[int]  # the cheapest allowed review, -1 if none (`_skip_options`)
    best: list[int]  # the allowed review that saves the most per token
    worth_any: list[bool]  # some review is left after the value floor
    too_large: list[int]  # the first cap (0 tokens, 1 USD) the cheapest review exceeds, or -1
    room: list[bool]  # the cheapest review fits what the plan left of every cap


class _Picked(NamedTuple):
    """Each unit's figures for the option it got, one list per Assignment field."""

    tokens: list[int]
    usd: list[float] | None
    expected_loss: list[float]
    loss_if_skipped: list[float]
    miss: list[float]
    prompt_tokens: list[int]  # one call's prompt, its context included


def _skip_options(tokens, loss, allowed):
    """Per unit, of the reviews (options after the skip) the rules allow: the cheapest in
    tokens and the one saving the most expected loss per token (the first on ties); -1 when
    no review is allowed. What a skipped unit's reason compares with, for all units at once."""
    import numpy as np

    reviews = allowed[:, 1:]
    cost = np.where(reviews, tokens[:, 1:], np.inf)
    gain = np.where(reviews, (loss[:, :1] - loss[:, 1:]) / np.maximum(tokens[:, 1:], 1),
                    -np.inf)
    none = ~reviews.any(axis=1)
    return (np.where(none, -1, cost.argmin(axis=1) + 1),
            np.where(none, -1, gain.argmax(axis=1) + 1))


def _skip_budget(tokens, dollars, cheapest, caps, left):
    """Per unit, for its cheapest review (`_skip_options`): the first cap (0 tokens, 1 USD) it
    alone exceeds (-1 if none), and whether it fits what the plan left of every cap."""
    import numpy as np

    rows, at = np.arange(len(cheapest)), np.maximum(cheapest, 0)
    amounts = (tokens[rows, at], None if dollars is None else dollars[rows, at])
    too_large, room = np.full(len(cheapest), -1), np.ones(len(cheapest), dtype=bool)
    for kind in (1, 0):  # the tokens' reason first when both caps are exceeded
        if amounts[kind] is None or caps[kind] is None:
            continue
        too_large = np.where(amounts[kind] > caps[kind] + 1e-9, kind, too_large)
        room &= amounts[kind] <= left[kind] + 1e-9
    return too_large, room


def _next_cheaper(tokens, loss, choice):
    """Per unit, the option its choice is weighed against: of the options before it that cost
    fewer tokens and lose more, the costliest (the first on ties; the skip when none); with
    the tokens the choice costs and the loss it saves over that option."""
    import numpy as np

    rows = np.arange(len(choice))
    chosen_tokens, chosen_loss = tokens[rows, choice], loss[rows, choice]
    over = np.full(len(choice), -1)
    over_tokens = np.full(len(choice), -np.inf)
    for k in range(tokens.shape[1]):
        better = ((k < choice) & (tokens[:, k] < chosen_tokens) & (loss[:, k] > chosen_loss)
                  & (tokens[:, k] > over_tokens))
        over = np.where(better, k, over)
        over_tokens = np.where(better, tokens[:, k], over_tokens)
    over[over < 0] = 0
    return over, chosen_tokens - tokens[rows, over], loss[rows, over] - chosen_loss


def _assignments(units: _Units, table: StrategyTable, rows: _Rows, why: _Why,
                 picked: _Picked) -> list[Assignment]:
    """Every unit's Assignment: the reasons in one loop over Python lists, the rest a column at
    a time (10,000 units: ~30 ms, most of it formatting the reasons)."""
    import numpy as np

    names = table.names
    sends = [strategy.sends for strategy in table.strategies]
    reasons, values, forced, levels = [], [], [], []
    for u, (j, skipped, unmet, never, floor, forced_by, built, over, extra, saved) in enumerate(
            zip(rows.choice, picked.loss_if_skipped, rows.unmet, units.never, units.floor,
                units.forced_by, units.built, rows.over, rows.extra, rows.saved, strict=True)):
        # Why unit u got option j: its marginal value per token over the next cheaper option.
        value = None
        if skipped <= 0:
            reason = "nothing to lose: consequence weight or defect probability is 0"
        elif j == 0:
            reason = _skip_reason(u, table, rows, why)
        else:
            value = saved / extra if extra > 0 else None
            per = f" ({value:.2e}/token)" if value is not None else ""
            reason = (f"{names[j]}: saves {saved:.3g} expected loss over {names[over]} for "
                      f"{int(extra):,} more tokens{per}")
        minimum = forced_by if floor and not unmet else None
        if never:
            reason = never
        elif minimum:
            reason = f"at least {names[floor]} ({minimum}); {reason}"
        elif unmet:
            reason = (f"minimum {names[floor]} from {forced_by} does not "
                      f"fit the budget; {reason}")
        level, note = built[j]
        if note and sends[j] and not never:
            reason = f"{reason}; {note}"
        reasons.append(reason)
        values.append(value)
        forced.append(minimum)
        levels.append(level)
    choice = np.asarray(rows.choice, dtype=int)
    samples = np.array([int(attempts) for attempts in table.attempts], dtype=object)
    return plan.assignments((
        units.ids, np.array(names, dtype=object)[choice].tolist(), samples[choice].tolist(),
        picked.tokens, picked.usd or [None] * len(choice), picked.expected_loss,
        picked.loss_if_skipped, reasons, forced, picked.miss, values, picked.prompt_tokens,
        levels))


def _skip_reason(u, table, rows: _Rows, why: _Why) -> str:
    """The true reason a unit with something to lose was skipped, checked in this order: no
    strategy allowed; even the cheapest review is larger than the whole budget; the value floor
    cut every review; the budget was left unused; the budget went to other units."""
    names = table.names
    k = rows.cheapest[u]
    if k < 0:
        return "skipped: no review strategy is allowed for this unit"
    tokens, loss = rows.tokens[u].tolist(), rows.loss[u].tolist()
    if rows.too_large[u] >= 0:
        kind = rows.too_large[u]
        amount, shown = ((tokens[k], "{:,.0f} tokens") if kind == 0
                         else (why.dollars[u, k].item(), "${:.4f}"))
        return (f"skipped: too large for the budget: even {names[k]} needs "
                f"{shown.format(amount)}, more than the whole budget of "
                f"{shown.format(why.caps[kind])}")
    best = rows.best[u]
    saved = loss[0] - loss[best]
    offer = (f"{names[best]} would save {saved:.3g} expected loss for {tokens[best]:,.0f} "
             f"tokens ({saved / max(tokens[best], 1):.2e}/token)")
    if not rows.worth_any[u]:
        return (f"skipped: not worth its tokens: {offer}, less than {why.min_gain:g} per 1,000 "
                "tokens ([budget] min_gain_per_1k_tokens)")
    if rows.room[u]:
        return f"skipped by the {why.policy} policy although the budget had room: {offer}"
    if why.policy in policies.WEIGHTED:
        return (f"skipped: {offer}; the budget went to units that save as much or more per "
                "token")
    return f"skipped: {offer}; the budget went to units the {why.policy} policy ranks first"


@dataclass(frozen=True)
class _Shared:
    """What every plan of one allocation shares: the policy's choice over all units and the
    sets of units its notes name."""

    policy: str
    caps: tuple[float | None, float | None]  # (tokens, USD)
    tokens: np.ndarray
    dollars: np.ndarray | None
    loss: np.ndarray
    choice: np.ndarray
    result: policies.Allocation
    min_gain: float
    floor_cut: bool  # the value floor left some option out
    held: frozenset[str]  # units kept from a deeper strategy by the value floor
    never: frozenset[str]  # units never sent (secrets, binary)
    unmet: frozenset[str]  # units whose rule minimum did not fit the budget
    miss_source: str | None  # the calibration the misses were measured in, if any


def _plan(shared: _Shared, assignments: list[Assignment], members: list[int],
          label: str | None) -> Plan:
    """The plan of `members` (all units, or one change's in a batch)."""
    import numpy as np

    members = np.asarray(members, dtype=int)
    picked = shared.choice[members]
    total_tokens = int(shared.tokens[members, picked].sum()) if len(members) else 0
    total_usd = (float(shared.dollars[members, picked].sum())
                 if shared.dollars is not None else None)
    expected = float(shared.loss[members, picked].sum()) if len(members) else 0.0
    skipped_all = float(shared.loss[members, 0].sum()) if len(members) else 0.0
    never = [a for a in assignments if a.unit_id in shared.never]
    sends = {name: strategies.get(name).sends for name in strategies.names()}
    skipped = [a for a in assignments if a.unit_id not in shared.never and a.loss_if_skipped > 0
               and not sends[a.strategy]]
    unmet = tuple(a.unit_id for a in assignments if a.unit_id in shared.unmet)
    tok_cap, usd_cap = shared.caps
    spent = "; ".join(
        ([f"{total_tokens:,} of {int(tok_cap):,} tokens"] if tok_cap is not None else [])
        + ([f"${total_usd:.4f} of ${usd_cap:.4f}"] if usd_cap is not None else []))
    # `details` repeat what the report shows per unit: `--verbose` and JSON only.
    details = [f"{shared.policy}: {spent}; expected loss {expected:.3g} "
               f"(skipping everything: {skipped_all:.3g})"]
    if skipped:
        worst = heapq.nsmallest(5, skipped, key=lambda a: (-a.loss_if_skipped, a.unit_id))
        shown = ", ".join(a.unit_id for a in worst) + (" ..." if len(skipped) > 5 else "")
        details.append(f"skipped {len(skipped)} unit(s) with something to lose "
                       f"({sum(a.loss_if_skipped for a in skipped):.3g} expected loss left "
                       f"unreviewed; each unit's reason says why): {shown}")
    held = [a.unit_id for a in assignments if a.unit_id in shared.held]
    if held:
        details.append(f"{len(held)} unit(s) kept from a deeper strategy that would save less "
                       f"than {shared.min_gain:g} expected loss per 1,000 tokens ([budget] "
                       f"min_gain_per_1k_tokens): " + ", ".join(held[:5])
                       + (" ..." if len(held) > 5 else ""))
    if never:
        details.append(f"not sent, so not planned: {', '.join(a.unit_id for a in never[:5])}"
                       + (" ..." if len(never) > 5 else "") + " (binary files, submodules, "
                       "files that may hold secrets)")
    notes = []
    if unmet:
        notes.append(f"OVER BUDGET: the rule minimums need more than the budget; the budget is "
                     f"kept and {len(unmet)} unit(s) get less than their minimum: "
                     + ", ".join(unmet[:5]) + (" ..." if len(unmet) > 5 else ""))
    lower_bound = shared.result.lower_bound if label is None else None
    if lower_bound is not None:
        within = " and the value floor" if shared.floor_cut else ""
        details.append(f"no plan within the budget{within} has expected loss below "
                       f"{lower_bound:.3g} (LP bound)")
    if shared.miss_source:
        notes.append(shared.miss_source)
    return Plan(policy=shared.policy, assignments=tuple(assignments),
                budget_tokens=None if tok_cap is None else int(tok_cap), budget_usd=usd_cap,
                total_tokens=total_tokens, total_usd=total_usd, expected_loss=expected,
                notes=tuple(notes), details=tuple(details), loss_if_all_skipped=skipped_all,
                lower_bound=lower_bound, multiplier=shared.result.multiplier,
                unmet_minimums=unmet, change=label)
