"""Tests/docs-only records and units under the grouped protocol, before and now.

    python benchmarks/compare_scoring_minor.py --cache /tmp/issue10-prep.pkl

`--cache` is benchmarks/compare_scoring.py's cache (`--encoder --cache`: the prepared records,
their text embeddings and paths). 5 folds of whole repositories; each held-out record is scored
per unit as deployed (tests/docs-only units never high, the change is its riskiest unit), by
- before: the recipe of the base commit's diff model (hashed tokens + numeric, LR C=1, no
  embedding), with its own nested rule;
- now: the shipped recipe (numeric + text embedding, LR C=0.3), with its nested rule;
- now + a rule for tests/docs-only units: such a unit is low when w * p(low) >= p(medium), with
  w chosen on the other folds' tests/docs-only records (best macro-F1 over all records, no more
  highs predicted low); the shipped rule decides every other unit.
Prints, for each: the confusion of tests/docs-only records (docs-only and tests-only apart),
overall macro-F1 and high->low with a diff (changes) and for all records, and how the
tests/docs-only units of mixed records (the rubric: low) are decided, inside high records too.
"""

from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path

import numpy as np
from compare_scoring import with_text_features  # this folder (run as a script)

from cartriage.scoring import decision, train, validation

DOCS = re.compile(r"(^|/)docs?/|\.(md|rst|txt|adoc)$", re.IGNORECASE)
GRID = np.round(np.exp(np.linspace(np.log(0.1), np.log(10), 33)), 4)


def unit_probabilities(data, fold):
    """Per record, the held-out (before, now) unit probabilities, tests/docs units never high."""
    out = [None] * len(data)
    for k in range(validation.FOLDS):
        fit_on = [p for p, f in zip(data, fold, strict=True) if f != k]
        now = train.fit_consequence(fit_on)
        before = train.LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000,
                                          random_state=train.SEED)
        before.fit(np.vstack([p.record_c for p in fit_on]), [p.consequence for p in fit_on])
        for i in np.flatnonzero(fold == k):
            p = data[i]
            if not p.units_c.shape[0]:
                rows = [train._proba(before, p.record_c[None, :]),
                        train._proba(now, train.inputs("consequence", p.record_c[None, :],
                                                       p.diff_e, p.text_k))]
            else:
                rows = [train._proba(before, p.units_c),
                        train._proba(now, train.inputs("consequence", p.units_c, p.diff_e,
                                                       p.text_k))]
                for r in rows:
                    for j in np.flatnonzero(p.minor):
                        r[j] = decision.minor_unit(r[j])
            out[i] = rows
    return out


def tiers(units, minor, rule, minor_weight):
    """Unit tiers as deployed (decision.tier), the rule's tests/docs weight set to minor_weight."""
    rule = decision.Rule(rule.low, rule.high, minor_weight)
    return np.array([decision.rank(decision.tier(row, rule, bool(is_minor)))
                     for row, is_minor in zip(units, minor, strict=True)])


def record_tiers(P_units, data, rules, minor_weight=None):
    """The change's tier (its highest unit tier) per record; rules[i] is record i's rule."""
    out = []
    for units, p, rule, w in zip(P_units, data, rules, minor_weight or [None] * len(data),
                                 strict=True):
        minor = p.minor if p.units_c.shape[0] else np.zeros(1, dtype=bool)
        out.append(int(tiers(units, minor, rule, w).max()))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    cached = pickle.loads(args.cache.read_bytes())
    data = with_text_features(cached)
    y = np.array([p.consequence for p in data])
    fold = validation.folds([p.repo for p in data])
    changes = np.array([not p.issue for p in data])
    only = np.array([p.units_c.shape[0] > 0 and bool(p.minor.all()) for p in data])
    docs = np.array([bool(paths) and all(DOCS.search(x) for x in paths)
                     for paths in cached["paths"]]) & only
    mixed = np.array([p.units_c.shape[0] > 1 and p.minor.any() and not p.minor.all()
                      for p in data])
    units = unit_probabilities(data, fold)
    results = {}
    for which, name in ((0, "before"), (1, "now")):
        P_units = [u[which] for u in units]
        envelope = np.array([decision.envelope(u) for u in P_units])
        rules = [None] * len(data)
        for k in range(validation.FOLDS):  # nested: each fold's rule from the other folds
            rule = validation.choose_rule(envelope[fold != k], y[fold != k])
            for i in np.flatnonzero(fold == k):
                rules[i] = rule
        results[name] = (P_units, rules, None)
        if name == "now":
            weights = [None] * len(data)
            for k in range(validation.FOLDS):
                w = choose_minor_weight(P_units, data, rules, y, fold != k, only)
                for i in np.flatnonzero(fold == k):
                    weights[i] = w
                print(f"fold {k}: tests/docs-only unit weight {w}")
            results["now + tests/docs unit rule"] = (P_units, rules, weights)
    for name, (P_units, rules, weights) in results.items():
        pred = record_tiers(P_units, data, rules, weights)
        print(f"\n== {name}")
        for label, subset in (("docs-only records", docs), ("tests-only records", only & ~docs),
                              ("tests/docs-only records", only)):
            m = validation.metrics(y[subset], pred[subset])
            print(f"  {label}: {subset.sum()}, confusion {m['confusion']}")
        for label, subset in (("changes (diff)", changes), ("all records", np.ones_like(y, bool))):
            m = validation.metrics(y[subset], pred[subset])
            print(f"  {label}: macro-F1 {m['macro_f1']:.3f}, high->low "
                  f"{m['high_predicted_low']}/{m['highs']}")
        counts = {"all": [0, 0, 0], "inside high records": [0, 0, 0]}
        for i in np.flatnonzero(mixed):
            t = tiers(P_units[i], data[i].minor, rules[i],
                      None if weights is None else weights[i])[data[i].minor]
            for tier in t:
                counts["all"][tier] += 1
                if y[i] == validation.HIGH:
                    counts["inside high records"][tier] += 1
        print(f"  tests/docs-only units of mixed records (low/medium/high): {counts}")


def choose_minor_weight(P_units, data, rules, y, train_mask, only):
    """The weight with the best macro-F1 over the training folds' records, among those that
    predict no more highs low than the shipped rule; ties go to the weight nearest 1.
    validation.choose_minor (what `cartriage train` ships) chooses the same way from the
    records' envelopes; here each record's tier is its highest unit tier, as deployed."""
    idx = np.flatnonzero(train_mask)
    base = record_tiers([P_units[i] for i in idx], [data[i] for i in idx],
                        [rules[i] for i in idx])
    allowed = int(np.sum((base == 0) & (y[idx] == validation.HIGH)))
    best, best_key = None, None
    for w in GRID:
        pred = base.copy()
        for n, i in enumerate(idx):
            if only[i]:
                pred[n] = record_tiers([P_units[i]], [data[i]], [rules[i]], [w])[0]
        misses = int(np.sum((pred == 0) & (y[idx] == validation.HIGH)))
        key = (misses <= allowed, round(validation.macro_f1(y[idx], pred), 9), -abs(np.log(w)))
        if best_key is None or key > best_key:
            best, best_key = float(w), key
    return best


if __name__ == "__main__":
    main()
