"""`cartriage bench`: compare the policies at matched budgets on labelled change records.

Each record is one unit. The labels are the ground truth for the loss (consequence tier ->
weight, difficulty tier -> P(defect) and P(miss | strategy) under the miss model, or the
record's observed `outcomes`); the allocator sees the scoring model's predictions
(`predicted`), predictions by models trained without the record's repository (`cross-repo`,
leave-one-repository-out with the scoring stage's training code) or the labels (`oracle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cartriage import strategies
from cartriage.allocation import build_problem, policies, strategy_table
from cartriage.allocation.cost import estimate_lines_tokens
from cartriage.errors import CartriageError, InputError
from cartriage.scoring.scores import DEFECT_RATES
from cartriage.strategies.miss import TIERS, observed_miss

LEVELS = 10
COMPARED = ("consequence-aware", "priority-aware")
BASELINES = ("difficulty-aware", "difficulty-ranked", "uniform")


def read_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Labelled records from JSONL, and a message per line that could not be used."""
    from cartriage.scoring.records import read_jsonl

    records, problems = [], []
    for number, record, error in read_jsonl(path):
        if error:
            problems.append(error)
            continue
        labels = record.get("labels") or {}
        if labels.get("consequence") not in TIERS or labels.get("difficulty") not in TIERS:
            problems.append(f"line {number}: no consequence/difficulty labels")
            continue
        outcomes = record.get("outcomes")
        if outcomes is not None and not _valid_outcomes(outcomes):
            problems.append(f"line {number}: outcomes need integers 0 <= successes <= attempts, "
                            "attempts >= 1")
            continue
        records.append(record)
    if not records:
        raise InputError(f"--data {path}: no labelled records" +
                         (f" ({problems[0]})" if problems else ""))
    return records, problems


def _valid_outcomes(outcomes: Any) -> bool:
    if not isinstance(outcomes, dict):
        return False
    n, k = outcomes.get("attempts"), outcomes.get("successes")
    return (isinstance(n, int) and isinstance(k, int) and not isinstance(n, bool)
            and not isinstance(k, bool) and n >= 1 and 0 <= k <= n)


def prompt_tokens(record: dict[str, Any]) -> int:
    """The unit prompt estimate for a whole record (its diff as one unit)."""
    files = record.get("files") or []
    added = sum(f.get("added") or 0 for f in files)
    removed = sum(f.get("removed") or 0 for f in files)
    diff = record.get("diff") or ""
    hunks = diff.count("\n@@ ") + diff.startswith("@@ ")
    if not files and not diff:  # issue-only: the text is the prompt
        text = (record.get("title") or "") + (record.get("message") or "")
        return estimate_lines_tokens(0, 0, 0) + len(text) // 4
    return estimate_lines_tokens(added, removed, hunks)


def floor(record: dict[str, Any], config) -> int:
    """The deepest `min_strategy` of the path rules that match a file of the record."""
    level = 0
    for rule in config.rules:
        if rule.min_strategy and rule.has_role is None and rule.path and any(
                rule.matches(f.get("path", "")) for f in record.get("files") or []):
            level = max(level, strategies.names().index(rule.min_strategy))
    return level


def oracle_inputs(records, config) -> dict[str, np.ndarray]:
    """The labels as inputs: one-hot difficulty, its defect rate, the tier's weight."""
    difficulty = np.array([[float(r["labels"]["difficulty"] == t) for t in TIERS]
                           for r in records])
    return {
        "difficulty": difficulty,
        "defect": np.array([DEFECT_RATES[r["labels"]["difficulty"]] for r in records]),
        "weight": np.array([config.get("weights", r["labels"]["consequence"]) for r in records]),
    }


def predicted_inputs(scored) -> dict[str, np.ndarray]:
    """The scoring model's predictions per record (`scoring.predict_records`, no labels)."""
    return {
        "difficulty": np.array([[float(s.difficulty.probabilities.get(t, 0.0)) for t in TIERS]
                                for s in scored]),
        "defect": np.array([float(s.difficulty.defect_probability) for s in scored]),
        "weight": np.array([float(s.consequence.expected_weight) for s in scored]),
    }


def cross_repo_inputs(records, config, train_config,
                      facts: dict[str, dict] | None = None) -> dict[str, np.ndarray]:
    """Each record predicted by models trained on the other repositories' records.

    The models are fitted as `cartriage train` fits them (`scoring.train.prepare` with
    `train_config`, then `out_of_fold`); a held-out record is scored from its diff alone, as
    `predicted_inputs` scores it, so the two kinds differ only in what the models saw.
    `facts`: the records' repository facts (the shipped sidecar), as in training.
    """
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise CartriageError('--cross-repo trains models and needs the train extra: '
                             'pip install -e ".[train]"') from None
    missing = [r.get("id") for r in records if not isinstance(r.get("repo"), str)
               or not r["repo"]]
    if missing:
        raise InputError(f"--cross-repo needs a `repo` field on every record: {len(missing)} "
                         f"record(s) have none, first {missing[0]}")
    repos = {r["repo"] for r in records}
    if len(repos) < 2:
        raise InputError(f"--cross-repo holds one repository out at a time and needs records "
                         f"from at least 2 repositories; the data has {len(repos)}")
    for repo in sorted(repos):
        for label in ("consequence", "difficulty"):
            if len({r["labels"][label] for r in records if r["repo"] != repo}) < 2:
                raise InputError(f"--cross-repo: without {repo} the records have only one "
                                 f"{label} tier; a model needs at least two")
    from cartriage.analysis import analyze
    from cartriage.scoring import train

    oof = train.out_of_fold(train.prepare(records, train_config, analyze, facts))
    rates = np.array([DEFECT_RATES[t] for t in TIERS])
    weights = np.array([float(config.get("weights", t)) for t in TIERS])
    return {"difficulty": oof["difficulty"], "defect": oof["difficulty"] @ rates,
            "weight": oof["consequence-diff"] @ weights}


def truth_loss(records, config, table) -> np.ndarray:
    """(records, strategies): the ground-truth expected loss of each strategy per record."""
    oracle = oracle_inputs(records, config)
    miss = oracle["difficulty"] @ table.miss_tier.T
    for u, record in enumerate(records):
        outcomes = record.get("outcomes")
        if outcomes:
            miss[u] = [s.miss_from_attempts(p, observed_miss(
                outcomes["attempts"], outcomes["successes"], int(k))) if k else 1.0
                for s, p, k in zip(table.strategies, table.params, table.attempts, strict=True)]
    return (oracle["weight"] * oracle["defect"])[:, None] * miss


def budget_levels(tokens: np.ndarray, count: int = LEVELS) -> list[int]:
    """From the cheapest review for a tenth of the units to the deepest on every unit."""
    low = tokens[:, 1].sum() / 10  # column 0 is the skip
    high = tokens[:, -1].sum()
    return [int(round(low * (high / low) ** (i / (count - 1)))) for i in range(count)]


def run(records: list[dict[str, Any]], config, inputs: dict[str, dict] | None = None,
        levels: list[int] | None = None) -> dict[str, Any]:
    """Every policy at every budget level for each kind of inputs; returns the JSON object."""
    table = strategy_table(config, usd=False)
    prompt = np.array([prompt_tokens(r) for r in records], dtype=float)
    floors = np.array([floor(r, config) for r in records])
    tokens = table.tokens(prompt)
    truth = truth_loss(records, config, table)
    levels = levels or budget_levels(tokens)
    inputs = inputs or {"oracle": oracle_inputs(records, config)}
    rows = []
    rows_index = np.arange(len(records))
    for kind, given in inputs.items():
        for budget in levels:
            problem = build_problem(table, prompt, given["difficulty"], given["defect"],
                                    given["weight"], floors, budget)
            for policy in policies.POLICIES:
                choice = policies.run(policy, problem).choice
                spent = float(tokens[rows_index, choice].sum())
                rows.append({
                    "policy": policy, "budget": budget, "inputs": kind,
                    "loss": round(float(truth[rows_index, choice].sum()), 6),
                    "tokens": int(spent),
                    "units_reviewed": int((choice > 0).sum()),
                    "strategies": {n: int((choice == j).sum())
                                   for j, n in enumerate(table.names)},
                })
    return {
        "records": len(records),
        "with_outcomes": sum(1 for r in records if r.get("outcomes")),
        "loss_if_all_skipped": round(float(truth[:, 0].sum()), 6),
        "levels": levels,
        "rows": rows,
        "reductions": _reductions(rows),
        "oracle_share": _oracle_share(rows),
        "summary": _summary(rows),
    }


def _loss(rows, policy, budget, kind):
    return next(r["loss"] for r in rows
                if r["policy"] == policy and r["budget"] == budget and r["inputs"] == kind)


def _reductions(rows) -> list[dict[str, Any]]:
    out = []
    for kind in dict.fromkeys(r["inputs"] for r in rows):
        for budget in dict.fromkeys(r["budget"] for r in rows):
            for policy in COMPARED:
                for baseline in BASELINES:
                    base = _loss(rows, baseline, budget, kind)
                    ours = _loss(rows, policy, budget, kind)
                    out.append({"inputs": kind, "budget": budget, "policy": policy,
                                "baseline": baseline,
                                "reduction": round(1 - ours / base, 6) if base > 0 else 0.0})
    return out


def _oracle_share(rows) -> list[dict[str, Any]]:
    """Per predicted kind of inputs and budget: (uniform - policy with those inputs) /
    (uniform - policy with the labels); uniform is the labels' uniform. None where the labels
    gain less than 0.5% of uniform's loss (every policy deliberating nearly everywhere): a
    share of that is noise."""
    kinds = [k for k in dict.fromkeys(r["inputs"] for r in rows) if k != "oracle"]
    if not any(r["inputs"] == "oracle" for r in rows):
        return []
    out = []
    for kind in kinds:
        for budget in dict.fromkeys(r["budget"] for r in rows):
            for policy in policies.POLICIES[1:]:
                uniform = _loss(rows, "uniform", budget, "oracle")
                gain = uniform - _loss(rows, policy, budget, "oracle")
                kept = uniform - _loss(rows, policy, budget, kind)
                out.append({"inputs": kind, "budget": budget, "policy": policy,
                            "share": round(kept / gain, 6) if gain > 0.005 * uniform
                            else None})
    return out


def _summary(rows) -> dict[str, Any]:
    """Mean loss over the budget levels per policy and inputs (lower is better); for predicted
    inputs, the share of the oracle's gain over uniform they keep, over all budgets together."""
    summary: dict[str, Any] = {}
    for kind in dict.fromkeys(r["inputs"] for r in rows):
        mean = {p: float(np.mean([r["loss"] for r in rows
                                  if r["policy"] == p and r["inputs"] == kind]))
                for p in policies.POLICIES}
        summary[kind] = {"mean_loss": {p: round(v, 6) for p, v in mean.items()},
                         "best": min(mean, key=lambda p: (mean[p], p))}
    oracle = summary.get("oracle")
    for kind, entry in summary.items():
        if oracle is None or kind == "oracle":
            continue
        uniform = oracle["mean_loss"]["uniform"]
        entry["oracle_share"] = {
            p: (round((uniform - entry["mean_loss"][p]) / (uniform - oracle["mean_loss"][p]), 6)
                if uniform - oracle["mean_loss"][p] > 1e-12 else None)
            for p in policies.POLICIES[1:]}
    return summary


def format_text(result: dict[str, Any]) -> str:
    """The bench as plain-text tables."""
    lines = [f"{result['records']} records ({result['with_outcomes']} with observed outcomes); "
             f"expected loss with no review: {result['loss_if_all_skipped']:.4g}", ""]
    short = {"uniform": "uniform", "difficulty-ranked": "diff-rank", "difficulty-aware":
             "diff-aware", "consequence-aware": "conseq", "priority-aware": "priority"}
    for kind in dict.fromkeys(r["inputs"] for r in result["rows"]):
        lines.append(f"expected cost-weighted loss, {kind} inputs (lower is better)")
        lines.append(f"{'budget (tokens)':>16} " + " ".join(f"{short[p]:>10}"
                                                          for p in policies.POLICIES))
        for budget in result["levels"]:
            lines.append(f"{budget:>16,} " + " ".join(
                f"{_loss(result['rows'], p, budget, kind):>10.4g}" for p in policies.POLICIES))
        lines.append("")
        lines.append(f"loss reduction, {kind} inputs (1 - policy / baseline)")
        pairs = [(p, b) for p in COMPARED for b in BASELINES]
        lines.append(f"{'budget (tokens)':>16} " + " ".join(
            f"{short[p] + '/' + short[b]:>18}" for p, b in pairs))
        for budget in result["levels"]:
            values = {(x["policy"], x["baseline"]): x["reduction"] for x in result["reductions"]
                      if x["inputs"] == kind and x["budget"] == budget}
            lines.append(f"{budget:>16,} " + " ".join(f"{values[pair]:>18.1%}" for pair in pairs))
        lines.append("")
    shown = policies.POLICIES[1:]
    for kind in dict.fromkeys(x["inputs"] for x in result["oracle_share"]):
        lines.append(f"share of the oracle's gain over uniform kept with {kind} inputs")
        lines.append(f"{'budget (tokens)':>16} " + " ".join(f"{short[p]:>10}" for p in shown))
        for budget in result["levels"]:
            values = {x["policy"]: x["share"] for x in result["oracle_share"]
                      if x["budget"] == budget and x["inputs"] == kind}
            lines.append(f"{budget:>16,} " + " ".join(
                f"{values[p]:>10.1%}" if values[p] is not None else f"{'-':>10}"
                for p in shown))
        lines.append("")
    for kind, summary in result["summary"].items():
        means = ", ".join(f"{p} {v:.4g}" for p, v in summary["mean_loss"].items())
        lines.append(f"mean loss over budgets, {kind}: {means}; best: {summary['best']}")
        if summary.get("oracle_share"):
            kept = ", ".join(f"{p} {v:.0%}" if v is not None else f"{p} -"
                             for p, v in summary["oracle_share"].items())
            lines.append(f"  share of the oracle's gain kept over budgets, {kind}: {kept}")
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
