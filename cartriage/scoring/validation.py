"""The evaluation protocol shared by `cartriage train` and benchmarks/compare_scoring.py.

Folds are whole repositories (never a random split); the metrics are the decision figures
(confusion, macro-F1, recall and precision of high, high predicted low) and the calibration
figures (Brier score, expected calibration error) that the allocator relies on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cartriage.scoring import decision
from cartriage.scoring.scores import TIERS

FOLDS = 5
HIGH = 2
# At most one high record in this many may be predicted low (the target, 1 in 200).
HIGH_LOW_RATE = 200


def folds(repos: list[str], count: int = FOLDS) -> np.ndarray:
    """A fold number per record: whole repositories, largest first onto the lightest fold."""
    sizes: dict[str, int] = {}
    for repo in repos:
        sizes[repo] = sizes.get(repo, 0) + 1
    load = [0] * count
    fold_of = {}
    for repo in sorted(sizes, key=lambda r: (-sizes[r], r)):
        k = min(range(count), key=lambda i: (load[i], i))
        fold_of[repo] = k
        load[k] += sizes[repo]
    return np.array([fold_of[r] for r in repos])


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    scores = []
    for k in range(3):
        tp = np.sum((y == k) & (pred == k))
        denom = np.sum(y == k) + np.sum(pred == k)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def brier(P: np.ndarray, y: np.ndarray) -> float:
    """Mean over records of the squared distance between the probabilities and the one-hot truth."""
    return float(np.mean(np.sum((P - np.eye(3)[y]) ** 2, axis=1)))


def ece(P: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of every tier's probability (10 equal-width bins)."""
    p, hit = P.ravel(), (np.eye(3)[y]).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(p[inside].mean() - hit[inside].mean())
    return float(total / len(p))


def metrics(y: np.ndarray, pred: np.ndarray, P: np.ndarray | None = None) -> dict[str, Any]:
    cm = np.zeros((3, 3), dtype=int)
    np.add.at(cm, (y, pred), 1)
    high_pred = int(cm[:, 2].sum())
    out = {
        "records": int(len(y)),
        "confusion": cm.tolist(),
        "macro_f1": round(macro_f1(y, pred), 4),
        "recall_high": round(float(cm[2, 2] / max(cm[2].sum(), 1)), 4),
        "precision_high": round(float(cm[2, 2] / high_pred), 4) if high_pred else 0.0,
        "high_predicted_low": int(cm[2, 0]),
        "highs": int(cm[2].sum()),
    }
    if P is not None:
        out["brier"] = round(brier(P, y), 4)
        out["ece"] = round(ece(P, y), 4)
    return out


def per_fold(y: np.ndarray, pred: np.ndarray, fold: np.ndarray) -> list[float]:
    """Macro-F1 of each held-out fold (whether a gain holds in every fold, not only pooled)."""
    return [round(macro_f1(y[fold == k], pred[fold == k]), 4) for k in np.unique(fold)]


_GRID = np.round(np.exp(np.linspace(np.log(0.1), np.log(10), 33)), 4)


def choose_rule(P: np.ndarray, y: np.ndarray) -> decision.Rule:
    """The cost-weighted argmax with the best macro-F1 that keeps high->low within 1 in 200.

    Candidates: tier weights (w_low, 1, w_high) on a log grid from 0.1 to 10; when no weight
    keeps high->low within the limit, the one with the fewest high->low. Ties go to the
    weights nearest 1 (plain argmax).
    """
    allowed = int(np.sum(y == HIGH)) // HIGH_LOW_RATE
    truth = np.eye(3, dtype=bool)[y]
    best, best_key = None, None
    for w_low in _GRID:
        weights = np.stack([np.full_like(_GRID, w_low), np.ones_like(_GRID), _GRID], axis=1)
        scores = P[None, :, :] * weights[:, None, :]  # (grid, records, tiers)
        pred = scores.argmax(axis=2)
        chosen = np.eye(3, dtype=bool)[pred]  # (grid, records, tiers)
        tp = np.sum(chosen & truth[None], axis=1)
        denom = truth.sum(axis=0)[None, :] + chosen.sum(axis=1)
        f1 = np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0), axis=1)
        misses = np.sum((pred == 0) & (y == HIGH)[None, :], axis=1)
        for j, w_high in enumerate(_GRID):
            key = (-max(int(misses[j]) - allowed, 0), round(float(f1[j]), 9),
                   -abs(np.log(w_low)) - abs(np.log(w_high)))
            if best_key is None or key > best_key:
                best, best_key = decision.Rule(float(w_low), float(w_high)), key
    return best


def choose_minor(P: np.ndarray, y: np.ndarray, minor: np.ndarray,
                 rule: decision.Rule) -> decision.Rule:
    """`rule` with the weight of p(low) for tests/docs-only units (decision.tier) that gives the
    best macro-F1 over all records, the records in `minor` (only such units; P their envelope)
    decided by it, without more highs predicted low than `rule` alone. Ties: nearest 1."""
    base = apply(P, rule)
    allowed = int(np.sum((base == 0) & (y == HIGH)))
    best, best_key = rule, None
    for w in _GRID:
        candidate = decision.Rule(rule.low, rule.high, float(w))
        pred = np.where(minor, apply(P, candidate, minor), base)
        misses = int(np.sum((pred == 0) & (y == HIGH)))
        key = (misses <= allowed, round(macro_f1(y, pred), 9), -abs(np.log(w)))
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    return best


def apply(P: np.ndarray, rule: decision.Rule, minor: np.ndarray | None = None) -> np.ndarray:
    """Tier indices; rows flagged in `minor` are tests/docs-only units (or records of them)."""
    flags = np.zeros(len(P), dtype=bool) if minor is None else minor
    return np.array([TIERS.index(decision.tier(row, rule, bool(m)))
                     for row, m in zip(P, flags, strict=True)])


def rule_per_fold(P: np.ndarray, y: np.ndarray, fold: np.ndarray,
                  minor: np.ndarray | None = None) -> np.ndarray:
    """Predictions where each fold's rule was chosen on the other folds only (nested); with
    `minor` (records of tests/docs-only units), their weight too (choose_minor)."""
    pred = np.zeros_like(y)
    for k in np.unique(fold):
        held = fold == k
        rule = choose_rule(P[~held], y[~held])
        if minor is not None:
            rule = choose_minor(P[~held], y[~held], minor[~held], rule)
        pred[held] = apply(P[held], rule, None if minor is None else minor[held])
    return pred
