"""Diff-model candidates that change only how the model is trained (sixth session), as deployed.

    python benchmarks/compare_scoring_training.py --cache /tmp/prepared.pkl [--only NAME ...]

Each candidate is fitted on the training folds' records of both files (5 folds of whole
repositories) and every held-out record scored as deployed (ceiling_scoring.py: per unit, each
unit pulled toward its change, tests/docs-only units never high, the riskiest-unit envelope).
Columns: macro-F1 with a diff and highs predicted low with the nested rule (the figure that
counts), the same with one rule picked on the held-out folds themselves (ceiling_scoring.oracle:
free of the nested rule's own noise, not a figure to claim), recall of high, Brier/ECE,
macro-F1 per held-out fold, issue with its patch (nested), the CPU of the candidate. The run
time is unchanged by all of them (the same inputs; only the fit or the card's embedding scale)
but the last two, which add the cache's embedding of the record's paths and first 40 changed
lines (compare_scoring.diff_text, float graph; the same for every unit of a record): at run
time that is a second encoder pass per change and a second embedding in the model's rows.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
from ceiling_scoring import SHIPPED, envelope, nested, oracle, out_of_fold  # this folder
from compare_scoring import with_text_features
from compare_scoring_deployed import WHOLE, embeddings

from cartriage.scoring import train, validation


def fit_lr(C=SHIPPED["C"], weight=None, cleaned=None):
    """The diff model's logistic regression with per-record `weight`s, and without the
    training records `cleaned` marks."""
    from sklearn.linear_model import LogisticRegression

    def fit(records):
        if cleaned is not None:
            records = [p for p, drop in zip(records, cleaned(records, C), strict=True)
                       if not drop]
        w = None if weight is None else weight(records)
        return LogisticRegression(C=C, solver="lbfgs", max_iter=2000,
                                  random_state=train.SEED).fit(
            train.rows("consequence", records), np.array([p.consequence for p in records]),
            sample_weight=w)
    return fit


def issue_weight(value):
    return lambda records: np.array([value if p.issue else 1.0 for p in records])


def repo_weight(power):
    """Each record weighs (its repository's record count)^-power, normalised to mean 1."""
    def weight(records):
        repos = [p.repo for p in records]
        count = {r: repos.count(r) for r in set(repos)}
        w = np.array([count[r] ** -power for r in repos], dtype=float)
        return w * len(w) / w.sum()
    return weight


def two_tiers_off(threshold):
    """Training records the model calls two tiers away from their label (low <-> high) with
    p(label) under `threshold`, out of grouped inner folds of the training records."""
    from sklearn.linear_model import LogisticRegression

    def marks(records, C):
        inner = validation.folds([p.repo for p in records])
        X = train.rows("consequence", records)
        y = np.array([p.consequence for p in records])
        P = np.zeros((len(y), 3))
        for k in np.unique(inner):
            m = LogisticRegression(C=C, solver="lbfgs", max_iter=2000,
                                   random_state=train.SEED).fit(X[inner != k], y[inner != k])
            P[np.ix_(inner == k, m.classes_)] = m.predict_proba(X[inner == k])
        return (P[np.arange(len(y)), y] < threshold) & (np.abs(P.argmax(axis=1) - y) == 2)
    return marks


# name: (fit, embedding scale (train.ENCODED), change share, scale of the paths-and-lines
# embedding after the text's, 0 for none)
CANDIDATES = {
    "shipped (LR C=0.3, embedding x1, share 0.5)": (fit_lr(), 1.0, 0.5),
    "issue records weigh 0.25": (fit_lr(weight=issue_weight(0.25)), 1.0, 0.5),
    "issue records weigh 0.5": (fit_lr(weight=issue_weight(0.5)), 1.0, 0.5),
    "issue records weigh 0.75": (fit_lr(weight=issue_weight(0.75)), 1.0, 0.5),
    "changes only (issue records weigh 0)": (fit_lr(weight=issue_weight(1e-9)), 1.0, 0.5),
    "issue records weigh 0.5, C=0.1": (fit_lr(0.1, issue_weight(0.5)), 1.0, 0.5),
    "issue records weigh 0.5, C=1": (fit_lr(1.0, issue_weight(0.5)), 1.0, 0.5),
    "issue records weigh 0.5, share 0.75": (fit_lr(weight=issue_weight(0.5)), 1.0, 0.75),
    "repositories weigh alike (1/n)": (fit_lr(weight=repo_weight(1.0)), 1.0, 0.5),
    "repositories 1/sqrt(n)": (fit_lr(weight=repo_weight(0.5)), 1.0, 0.5),
    "two tiers off, p(label) < 0.1, left out": (fit_lr(cleaned=two_tiers_off(0.1)), 1.0, 0.5),
    "two tiers off, p(label) < 0.2, left out": (fit_lr(cleaned=two_tiers_off(0.2)), 1.0, 0.5),
    "two tiers off, p(label) < 0.3, left out": (fit_lr(cleaned=two_tiers_off(0.3)), 1.0, 0.5),
    "embedding x0.5, C=1": (fit_lr(1.0), 0.5, 0.5),
    "embedding x0.7, C=0.6": (fit_lr(0.6), 0.7, 0.5),
    "embedding x0.5, C=0.5": (fit_lr(0.5), 0.5, 0.5),
    "embedding x2, C=0.1": (fit_lr(0.1), 2.0, 0.5),
    "+ embedding of paths and changed lines x0.5": (fit_lr(), 1.0, 0.5, 0.5),
    "+ embedding of paths and changed lines x1": (fit_lr(), 1.0, 0.5, 1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True,
                        help="records prepared by compare_scoring.py --encoder --cache")
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    s = pickle.loads(args.cache.read_bytes())
    data = with_text_features(s)
    text_e = embeddings(args.cache, s["texts"], WHOLE)  # the integer graph's (train.EMBEDDED)
    changes = np.array([not p.issue for p in data])
    fold = validation.folds([p.repo for p in data])
    y = np.array([p.consequence for p in data])
    only = train.minor_only(data)
    print("| candidate | diff, nested | high->low | one rule picked on the held-out folds "
          "(high->low) | recall high | Brier / ECE | per fold | issue+patch (high->low) | "
          "CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (fit, scale, share, *lines) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        cpu = time.process_time()
        for p, e, d in zip(data, text_e, s["diff_embeddings"], strict=True):
            p.diff_e = np.concatenate([e, lines[0] * d]).astype(np.float32) if lines else e
        train.ENCODED["consequence"] = scale
        try:
            P = envelope(out_of_fold(data, fold, fit, shares=(share,))[share], data)
        finally:
            train.ENCODED["consequence"] = 1.0
        d = nested(P[changes], y[changes], only[changes], fold[changes])
        i = nested(P[~changes], y[~changes], only[~changes], fold[~changes])
        best = oracle(P[changes], y[changes], only[changes], fold[changes])["pooled"]
        print(f"| {name} | {d['macro_f1']:.3f} | {d['high_predicted_low']}/{d['highs']} | "
              f"{best[0]:.3f} ({best[1]}) | {d['recall_high']:.3f} | {d['brier']:.3f} / "
              f"{d['ece']:.3f} | {', '.join(f'{v:.3f}' for v in d['per_fold'])} | "
              f"{i['macro_f1']:.3f} ({i['high_predicted_low']}/{i['highs']}) | "
              f"{time.process_time() - cpu:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
