"""Measure the strategies: sample units, inject defects, review each case with each strategy.

Every case is reviewed by the review stage itself (`review.run` with a one-unit plan), so the
prompts, sampling, judge, JSON repair, budget and cache are the ones a real review uses. The whole
calibration keeps one budget: each review is capped at what is left. Outcomes are kept in the
SQLite log database (table `calibration_outcomes`), keyed by model, strategy settings and case,
so a stopped or interrupted calibration resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from math import sqrt
from typing import TYPE_CHECKING

import numpy as np

from cartriage.calibration import TIERS, VERSION
from cartriage.calibration.inject import KINDS, Injection, candidates, inject
from cartriage.calibration.store import Outcomes

if TYPE_CHECKING:
    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config
    from cartriage.intake.change import ChangeSet
    from cartriage.scoring.scores import Scores

NEAR_LINES = 3  # a finding this close to the injected lines detects it
Z95 = 1.959964


@dataclass(frozen=True)
class Source:
    """One real change, triaged: where cases come from."""

    label: str
    change: ChangeSet
    analysis: Analysis
    scores: Scores


@dataclass(frozen=True)
class Case:
    """One unit to review: with an injected defect, or clean (`injection` None)."""

    id: str
    source: int  # index into the sources
    unit_id: str
    path: str
    tier: str  # the unit's difficulty tier (most probable)
    injection: Injection | None


@dataclass(frozen=True)
class Outcome:
    """What one strategy did on one case."""

    case_id: str
    strategy: str
    status: str  # reviewed, failed, or budget (not reviewed: the budget ran out)
    detected: bool
    findings: int
    false_findings: int  # clean unit: every finding; injected: findings away from the defect
    tokens: int
    usd: float
    calls: int
    reason: str = ""


def choose_cases(sources: Sequence[Source], units: int, clean_share: float,
                 seed: int) -> list[Case]:
    """Up to `units` units that can take an injection, `clean_share` of them left clean; the
    defect kinds are taken in turn so that each kind is measured."""
    from cartriage.intake import read_blob
    from cartriage.review.redact import is_secret_file

    rng = random.Random(seed)
    pool = []
    for number, source in enumerate(sources):
        tiers = {s.unit_id: s.difficulty.tier for s in source.scores.units}
        for unit in source.analysis.units:
            file = next((f for f in source.change.files if f.path == unit.path), None)
            if file is None or is_secret_file(unit.path):
                continue
            blob = read_blob(source.change, unit.path, "new")
            text = blob.decode("utf-8", errors="replace") if blob is not None else None
            found = candidates(file, unit.hunks or tuple(range(len(file.hunks))), text)
            if found:
                pool.append((number, unit, tiers.get(unit.id, "medium"), found))
    rng.shuffle(pool)
    pool = pool[:units]
    clean = round(len(pool) * clean_share)
    cases = []
    for index, (number, unit, tier, found) in enumerate(pool):
        label = f"{sources[number].label}:{unit.id}"
        if index >= len(pool) - clean:
            cases.append(Case(f"{label}:clean", number, unit.id, unit.path, tier, None))
            continue
        kinds = sorted({c.kind for c in found}, key=KINDS.index)
        wanted = KINDS[index % len(KINDS)]
        kind = wanted if wanted in kinds else rng.choice(kinds)
        injection = rng.choice([c for c in found if c.kind == kind])
        cases.append(Case(f"{label}:{kind}@{injection.line}", number, unit.id, unit.path, tier,
                          injection))
    return cases


Progress = Callable[[str, int, int, int, "float | None"], None]


@dataclass
class Measurement:
    """Every outcome, and whether the calibration stopped before the end (budget)."""

    cases: list[Case]
    outcomes: list[Outcome]
    strategies: tuple[str, ...]
    model: str
    stopped: str = ""
    resumed: int = 0
    spent_tokens: int = 0
    spent_usd: float = 0.0


def variant(strategy: str, context: str) -> str:
    """How a strategy measured at a context level is named: `multi@function`."""
    return f"{strategy}@{context}"


def split_variant(name: str) -> tuple[str, str | None]:
    """(strategy, context level or None) of a measured name (`multi@function` or `multi`)."""
    strategy, _, context = name.partition("@")
    return strategy, context or None


def measure(sources: Sequence[Source], cases: Sequence[Case], variants: Sequence[str],
            config: Config, *, model: str, budget_tokens: int | None, budget_usd: float | None,
            use_cache: bool = True, progress: Progress | None = None) -> Measurement:
    """Review every case with every variant (`strategy@context`) within one budget; keeps
    what was measured."""
    from cartriage.allocation import strategy_table

    table = strategy_table(config, budget_usd is not None)
    store = Outcomes.open(config)
    result = Measurement(list(cases), [], tuple(variants), model)
    total, done = len(cases) * len(variants), 0
    try:
        for case in cases:
            source = sources[case.source]
            change = source.change if case.injection is None else inject(source.change,
                                                                         case.injection)
            for name in variants:
                key = _key(case, name, change, config, model)
                stored = store.get(key) if store else None
                if stored is not None:
                    outcome = Outcome(**stored)
                    result.resumed += 1
                else:
                    caps = _left(budget_tokens, budget_usd, result)
                    if caps is None:
                        result.stopped = "the budget is spent"
                        return result
                    outcome = _review(case, name, change, source, table, config, model, caps,
                                      use_cache)
                    if outcome.status == "budget":
                        result.stopped = f"the budget is spent ({outcome.reason})"
                        return result
                    result.spent_tokens += outcome.tokens
                    result.spent_usd += outcome.usd
                    if store and outcome.status == "reviewed":
                        store.put(key, case.id, name, asdict(outcome))
                result.outcomes.append(outcome)
                done += 1
                if progress is not None:
                    progress(f"{case.id} {name}", done, total, result.spent_tokens,
                             result.spent_usd)
    finally:
        if store:
            store.close()
    return result


def _left(tokens: int | None, usd: float | None, result: Measurement):
    """(tokens, usd) left of the budget, or None when an axis is used up."""
    left_tokens = None if tokens is None else tokens - result.spent_tokens
    left_usd = None if usd is None else usd - result.spent_usd
    if (left_tokens is not None and left_tokens <= 0) or (left_usd is not None and left_usd <= 0):
        return None
    return left_tokens, left_usd


def _review(case: Case, name: str, change, source: Source, table, config, model: str, caps,
            use_cache: bool) -> Outcome:
    """One case, one variant, through `review.run` with a one-unit plan capped at `caps`."""
    from cartriage import context, review
    from cartriage.allocation.cost import estimate_prompt_tokens
    from cartriage.allocation.plan import Assignment, Plan
    from cartriage.pipeline import Result

    unit = next(u for u in source.analysis.units if u.id == case.unit_id)
    strategy, level = split_variant(name)
    column = table.names.index(strategy)
    code = context.build(change, source.analysis, unit, level or "hunks")
    prompt = np.array([estimate_prompt_tokens(unit) + code.tokens], dtype=float)
    tokens = int(table.tokens(prompt)[0, column])
    usd = table.usd(prompt)
    assignment = Assignment(unit.id, strategy, int(table.attempts[column]), tokens,
                            None if usd is None else float(usd[0, column]), 0.0, 1.0,
                            reason="calibration", context=code.level)
    plan = Plan(policy="calibration", assignments=(assignment,), budget_tokens=caps[0],
                budget_usd=caps[1], total_tokens=tokens, total_usd=assignment.est_usd,
                expected_loss=0.0)
    units = tuple(u for u in source.analysis.units if u.id == unit.id)
    analysis = replace(source.analysis, units=units)
    done = review.run(Result(change=change, analysis=analysis, scores=source.scores, plan=plan),
                      config, use_cache=use_cache, model=model)
    reviewed = next(u for u in done.units if u.unit_id == unit.id)
    spent = {"tokens": reviewed.prompt_tokens + reviewed.completion_tokens,
             "usd": reviewed.usd, "calls": reviewed.calls}
    if reviewed.status == "not reviewed: budget":
        return Outcome(case.id, name, "budget", False, 0, 0, reason=reviewed.reason, **spent)
    status = "reviewed" if reviewed.status == "reviewed" else "failed"
    near = [f for f in reviewed.findings if case.injection is not None and _near(f, case)]
    return Outcome(case.id, name, status, bool(near), len(reviewed.findings),
                   len(reviewed.findings) - len(near), reason=reviewed.reason, **spent)


def _near(finding, case: Case) -> bool:
    injection = case.injection
    start = injection.line
    end = injection.line + max(1, len(injection.after)) - 1
    return finding.file == injection.path and finding.line_start - NEAR_LINES <= end \
        and start - NEAR_LINES <= finding.line_end


def _key(case: Case, name: str, change, config, model: str) -> str:
    """What makes an outcome reusable: model, endpoint, the strategy's settings and context
    level, the case."""
    from cartriage import strategies
    from cartriage.review import prompts

    strategy, level = split_variant(name)
    file = next(f for f in change.files if f.path == case.path)
    blob = json.dumps({"model": model, "api_base": config.get("llm", "api_base"),
                       "strategy": strategy, "context": level,
                       "params": {**strategies.settings(config, strategy), "context": level},
                       "case": case.id, "unit": case.unit_id,
                       "diff": prompts.render_hunks(file.hunks)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# Statistics

def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) with no trials.

    Three lines of arithmetic: not worth statsmodels as a dependency."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], z: float = Z95) -> tuple[float, float, float]:
    """(mean, low, high): a normal-approximation 95% interval of the mean (low clipped at 0)."""
    if not values:
        return 0.0, 0.0, 0.0
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, mean, mean
    spread = sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = z * spread / sqrt(len(values))
    return mean, max(0.0, mean - half), mean + half


@dataclass(frozen=True)
class Row:
    """One line of the report: a strategy on one difficulty tier ("all" for every tier)."""

    strategy: str
    tier: str
    injected: int
    detected: int
    detection: tuple[float, float, float]  # rate, Wilson low, high
    clean: int
    false_per_clean: tuple[float, float, float]  # mean, low, high
    tokens_per_unit: tuple[float, float, float]
    usd_per_unit: tuple[float, float, float]
    failed: int


def rows(measurement: Measurement) -> list[Row]:
    """Per strategy, every tier together and then each measured tier."""
    tier_of = {c.id: c.tier for c in measurement.cases}
    injected_ids = {c.id for c in measurement.cases if c.injection is not None}
    out = []
    for name in measurement.strategies:
        mine = [o for o in measurement.outcomes if o.strategy == name]
        for tier in ("all", *TIERS):
            chosen = [o for o in mine if tier == "all" or tier_of[o.case_id] == tier]
            if not chosen:
                continue
            injected = [o for o in chosen if o.case_id in injected_ids]
            clean = [o for o in chosen if o.case_id not in injected_ids]
            detected = sum(o.detected for o in injected)
            rate = detected / len(injected) if injected else 0.0
            out.append(Row(name, tier, len(injected), detected,
                           (rate, *wilson(detected, len(injected))), len(clean),
                           mean_interval([o.false_findings for o in clean]),
                           mean_interval([o.tokens for o in chosen]),
                           mean_interval([o.usd for o in chosen]),
                           sum(o.status == "failed" for o in chosen)))
    return out


def calibration_data(measurement: Measurement, created: str, source: str) -> dict:
    """The calibration file's content: measured miss per strategy (and tier where measured),
    with the full report rows for reference."""
    table = rows(measurement)
    strategies = {}
    for name in measurement.strategies:
        overall = next((r for r in table if r.strategy == name and r.tier == "all"), None)
        if overall is None or overall.injected == 0:
            continue
        strategies[name] = {
            "context": split_variant(name)[1],
            "miss": round(1 - overall.detection[0], 4), "injected": overall.injected,
            "by_tier": {r.tier: {"miss": round(1 - r.detection[0], 4), "injected": r.injected}
                        for r in table if r.strategy == name and r.tier != "all" and r.injected},
        }
    return {"version": VERSION, "model": measurement.model, "created": created, "source": source,
            "units": len(measurement.cases), "strategies": strategies,
            "report": [asdict(r) for r in table], "stopped": measurement.stopped or None}
