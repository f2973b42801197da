"""Allocation: split a review budget across units and strategies by expected cost-weighted loss.

Entry points: `allocate(analysis, scores, config, policy=None) -> Plan` for one change and
`plan_batch(changes, config, policy=None) -> BatchPlan` for many changes under one budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cartriage import calibration
from cartriage.allocation import policies, solver, strategies
from cartriage.allocation.cost import call_usd, estimate_prompt_tokens, model_prices
from cartriage.allocation.model import TIERS
from cartriage.allocation.plan import Assignment, BatchPlan, Plan
from cartriage.errors import CartriageError, ConfigError
from cartriage.review.redact import is_secret_file

if TYPE_CHECKING:
    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config
    from cartriage.scoring.scores import Scores

__all__ = ["allocate", "plan_batch", "budget_caps", "estimate_prompt_tokens", "StrategyTable",
           "strategy_table", "build_problem"]


@dataclass(frozen=True)
class StrategyTable:
    """Per strategy (cheapest first): tokens = a * prompt + b, USD likewise, miss per tier."""

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
        return np.rint(prompt_tokens[:, None] * self.token_a + self.token_b)

    def usd(self, prompt_tokens: np.ndarray) -> np.ndarray | None:
        if self.usd_a is None:
            return None
        return prompt_tokens[:, None] * self.usd_a + self.usd_b


def strategy_table(config: Config, usd: bool | None = None) -> StrategyTable:
    """The strategies' cost and miss model from the configuration (USD only if asked)."""
    usd = config.get("budget", "usd") is not None if usd is None else usd
    params = tuple(strategies.params(config, name) for name in strategies.NAMES)
    modules = [strategies.REGISTRY[name] for name in strategies.NAMES]
    calls = [m.calls(p) for m, p in zip(modules, params, strict=True)]
    token_a = np.array([sum(c.prompt_copies for c in cs) for cs in calls], dtype=float)
    token_b = np.array([sum(c.extra_input + c.output for c in cs) for cs in calls], dtype=float)
    usd_a = usd_b = None
    if usd:
        prices = {m: model_prices(m) for cs in calls for m in {c.model for c in cs}}
        usd_b = np.array([sum(call_usd(c, 0, prices) for c in cs) for cs in calls])
        usd_a = np.array([sum(call_usd(c, 1, prices) for c in cs) for cs in calls]) - usd_b
    miss = [m.miss_by_tier(p) for m, p in zip(modules, params, strict=True)]
    measured = calibration.configured(config)
    if measured is not None:  # the user's model, measured, instead of the documented model
        miss = measured.misses(strategies.NAMES, miss)
    attempts = np.array([m.attempts(p) for m, p in zip(modules, params, strict=True)])
    return StrategyTable(strategies.NAMES, params, token_a, token_b, usd_a, usd_b,
                         np.array(miss), attempts,
                         measured.describe() if measured is not None else None)


def build_problem(table: StrategyTable, prompt_tokens, difficulty, defect, weight, floor,
                  budget: float, usd: bool = False, ceiling=None) -> policies.Problem:
    """A Problem from per-unit arrays; `difficulty` is (units, 3) tier probabilities.

    `floor` and `ceiling` are per-unit strategy indexes: the cheapest and deepest allowed."""
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


@dataclass
class _Units:
    """Per-unit inputs gathered from analysis and scores (for one or many changes)."""

    ids: list[str]
    change: list[str | None]
    prompt: list[int]
    difficulty: list[list[float]]
    defect: list[float]
    weight: list[float]
    floor: list[int]
    forced_by: list[str | None]
    ceiling: list[int]

    @classmethod
    def empty(cls) -> _Units:
        return cls([], [], [], [], [], [], [], [], [])

    def add(self, analysis: Analysis, scores: Scores, config: Config, change: str | None):
        by_id = {s.unit_id: s for s in scores.units}
        facts_by_path = {f.path: f for f in analysis.files}
        for unit in analysis.units:
            score = by_id.get(unit.id)
            if score is None:
                raise CartriageError(f"no scores for unit {unit.id!r}: scoring and analysis "
                                     "disagree")
            facts = facts_by_path.get(unit.path)
            roles = facts.role_names if facts else ()
            floor, forced = 0, None
            for rule in config.rules:
                if rule.min_strategy and rule.matches(unit.path, roles):
                    level = strategies.NAMES.index(rule.min_strategy)
                    if level > floor:
                        floor, forced = level, rule.describe()
            self.ids.append(unit.id)
            self.change.append(change)
            self.prompt.append(estimate_prompt_tokens(unit))
            probs = score.difficulty.probabilities
            self.difficulty.append([float(probs.get(t, 0.0)) for t in TIERS])
            self.defect.append(float(score.difficulty.defect_probability))
            self.weight.append(float(score.consequence.expected_weight))
            secret = is_secret_file(unit.path)  # never sent, so never worth a token
            self.floor.append(0 if secret else floor)
            self.forced_by.append(SECRET_REASON if secret else forced)
            self.ceiling.append(0 if secret else len(strategies.NAMES) - 1)


def allocate(analysis: Analysis, scores: Scores, config: Config,
             policy: str | None = None) -> Plan:
    """Choose a strategy per unit within the configured budget ([budget] tokens or usd)."""
    units = _Units.empty()
    units.add(analysis, scores, config, None)
    return _plans(units, config, _policy(config, policy))[0][0]


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
                     notes=total.notes)


def _plans(units: _Units, config: Config, policy: str, labels: Sequence[str] | None = None):
    caps = budget_caps(config)
    table = strategy_table(config, caps[1] is not None)
    n = len(units.ids)
    prompt = np.asarray(units.prompt, dtype=float)
    tokens = table.tokens(prompt)
    dollars = table.usd(prompt)
    difficulty = np.asarray(units.difficulty).reshape(n, len(TIERS))

    base = build_problem(table, prompt, difficulty, units.defect, units.weight, units.floor,
                         caps[0] if caps[0] is not None else 0.0, ceiling=units.ceiling)
    min_gain = config.get("budget", "min_gain_per_1k_tokens")
    # The value floor weighs loss by consequence, so only the policies that see consequence
    # use it; the baselines stay what they claim to be.
    worth = (_worth_buying(base, tokens, min_gain) if policy in policies.WEIGHTED
             else base.allowed)
    cut = base.allowed & ~worth
    base = replace(base, allowed=worth)
    result = _run_policy(policy, base, tokens, dollars, caps)
    loss = base.loss()
    rows = np.arange(n)
    choice = result.choice
    deepest = np.where(worth, np.arange(worth.shape[1])[None, :], -1).max(axis=1)
    held = {units.ids[u] for u in range(n) if cut[u].any() and choice[u] == deepest[u]}
    value = (held, min_gain, bool(cut.any()))
    assignments = [
        _assignment(u, units, table, tokens, dollars, loss, base.miss, choice, result)
        for u in range(n)
    ]
    groups = [None] if labels is None else list(labels)
    plans = []
    for label in groups:
        members = [u for u in range(n) if units.change[u] == label]
        plans.append(_plan(policy, [assignments[u] for u in members], members, tokens, dollars,
                           loss, choice, result, caps, label, value))
    total = _plan(policy, assignments, list(rows), tokens, dollars, loss, choice, result,
                  caps, None, value)
    if table.miss_source:
        plans = [replace(p, notes=(*p.notes, table.miss_source)) for p in plans]
        total = replace(total, notes=(*total.notes, table.miss_source))
    return plans, total


def _worth_buying(problem: policies.Problem, tokens: np.ndarray, min_gain: float) -> np.ndarray:
    """Options worth their tokens: along each unit's lower convex hull of (tokens, expected
    loss), from its cheapest allowed option, stop at the first step that saves less than
    `min_gain` per 1,000 tokens; deeper options are left out. Minimums are kept."""
    worth = problem.allowed.copy()
    if min_gain <= 0:
        return worth
    loss = problem.loss()
    _, hulls = solver.frontier(tokens, loss, problem.allowed)
    for u, hull in enumerate(hulls):
        last = hull[0]
        for j in hull[1:]:
            if (loss[u, last] - loss[u, j]) * 1000 < min_gain * (tokens[u, j] - tokens[u, last]):
                break
            last = j
        worth[u] &= tokens[u] <= tokens[u, last] + 1e-9
    return worth


def _run_policy(policy, base, tokens, dollars, caps) -> policies.Allocation:
    """Run the policy under every configured cap (tokens and/or USD), each a hard limit.

    With one cap this is one run. With both, the policy runs with each cap alone and with the
    cost normalised as max(tokens / token cap, USD / USD cap) against 1 (whose plans keep both
    caps); of the plans that keep both caps, the one best by the policy's own objective wins.
    A cap left out only lowers the optimum, so the larger of the two single-cap LP bounds
    remains a lower bound.
    """
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


def _assignment(u, units, table, tokens, dollars, loss, miss, choice, result) -> Assignment:
    j = int(choice[u])
    name = table.names[j]
    reason, value = _reason(u, j, table, tokens, loss, result)
    forced = units.forced_by[u] if units.floor[u] and not result.unmet[u] else None
    if units.forced_by[u] == SECRET_REASON:
        reason = SECRET_REASON
    elif forced:
        reason = f"at least {table.names[units.floor[u]]} ({forced}); {reason}"
    elif result.unmet[u]:
        reason = (f"minimum {table.names[units.floor[u]]} from {units.forced_by[u]} does not "
                  f"fit the budget; {reason}")
    return Assignment(
        unit_id=units.ids[u], strategy=name, samples=int(table.attempts[j]),
        est_tokens=int(tokens[u, j]),
        est_usd=None if dollars is None else float(dollars[u, j]),
        expected_loss=float(loss[u, j]), loss_if_skipped=float(loss[u, 0]), reason=reason,
        forced_by=forced, miss_probability=float(miss[u, j]), value_per_token=value,
        est_prompt_tokens=int(units.prompt[u]))


def _reason(u, j, table, tokens, loss, result) -> tuple[str, float | None]:
    """Why unit u got option j: its marginal value per token over the next cheaper option."""
    names = table.names
    if loss[u, 0] <= 0:
        return "nothing to lose: consequence weight or defect probability is 0", None
    if j == 0:
        upgrades = [(float((loss[u, 0] - loss[u, k]) / (tokens[u, k])), k)
                    for k in range(1, len(names)) if tokens[u, k] > 0]
        if not upgrades:
            return "skipped", None
        value, k = max(upgrades)
        return (f"skipped: {names[k]} would save {loss[u, 0] - loss[u, k]:.3g} expected loss "
                f"for {int(tokens[u, k]):,} tokens ({value:.2e}/token); the budget went to "
                "units with more value per token"), None
    cheaper = [k for k in range(j) if tokens[u, k] < tokens[u, j] and loss[u, k] > loss[u, j]]
    k = max(cheaper, key=lambda k: (tokens[u, k], -k)) if cheaper else 0
    extra = tokens[u, j] - tokens[u, k]
    saved = loss[u, k] - loss[u, j]
    value = float(saved / extra) if extra > 0 else None
    per = f" ({value:.2e}/token)" if value is not None else ""
    return (f"{names[j]}: saves {saved:.3g} expected loss over {names[k]} for "
            f"{int(extra):,} more tokens{per}"), value


def _plan(policy, assignments, members, tokens, dollars, loss, choice, result, caps,
          label, value) -> Plan:
    members = np.asarray(members, dtype=int)
    picked = choice[members]
    total_tokens = int(tokens[members, picked].sum()) if len(members) else 0
    total_usd = float(dollars[members, picked].sum()) if dollars is not None else None
    expected = float(loss[members, picked].sum()) if len(members) else 0.0
    skipped_all = float(loss[members, 0].sum()) if len(members) else 0.0
    secret = [a for a in assignments if a.reason == SECRET_REASON]
    skipped = [a for a in assignments if a.strategy == "skip" and a.loss_if_skipped > 0
               and a.reason != SECRET_REASON]
    unmet = tuple(a.unit_id for a in assignments if "does not fit the budget" in a.reason)
    tok_cap, usd_cap = caps
    spent = "; ".join(
        ([f"{total_tokens:,} of {int(tok_cap):,} tokens"] if tok_cap is not None else [])
        + ([f"${total_usd:.4f} of ${usd_cap:.4f}"] if usd_cap is not None else []))
    notes = [f"{policy}: {spent}; expected loss {expected:.3g} "
             f"(skipping everything: {skipped_all:.3g})"]
    if skipped:
        worst = sorted(skipped, key=lambda a: (-a.loss_if_skipped, a.unit_id))
        shown = ", ".join(a.unit_id for a in worst[:5]) + (" ..." if len(worst) > 5 else "")
        notes.append(f"skipped {len(skipped)} unit(s) that would each save less per token than "
                     f"the units reviewed ({sum(a.loss_if_skipped for a in skipped):.3g} expected"
                     f" loss left unreviewed): {shown}")
    held = [a.unit_id for a in assignments if a.unit_id in value[0]]
    if held:
        notes.append(f"{len(held)} unit(s) kept from a deeper strategy that would save less "
                     f"than {value[1]:g} expected loss per 1,000 tokens ([budget] "
                     f"min_gain_per_1k_tokens): " + ", ".join(held[:5])
                     + (" ..." if len(held) > 5 else ""))
    if secret:
        notes.append(f"not sent, so not planned: {', '.join(a.unit_id for a in secret[:5])}"
                     + (" ..." if len(secret) > 5 else "") + " (files that may hold secrets)")
    if unmet:
        notes.append(f"OVER BUDGET: the rule minimums need more than the budget; the budget is "
                     f"kept and {len(unmet)} unit(s) get less than their minimum: "
                     + ", ".join(unmet[:5]) + (" ..." if len(unmet) > 5 else ""))
    if result.lower_bound is not None and label is None:
        within = " and the value floor" if value[2] else ""
        notes.append(f"no plan within the budget{within} has expected loss below "
                     f"{result.lower_bound:.3g} (LP bound)")
    return Plan(policy=policy, assignments=tuple(assignments),
                budget_tokens=None if tok_cap is None else int(tok_cap), budget_usd=usd_cap,
                total_tokens=total_tokens, total_usd=total_usd, expected_loss=expected,
                notes=tuple(notes), loss_if_all_skipped=skipped_all,
                lower_bound=result.lower_bound if label is None else None,
                multiplier=result.multiplier, unmet_minimums=unmet, change=label)
