"""How far the data goes for the diff model (issue #10): how near 0.70 macro-F1 and at most 2 of
532 highs predicted low could come with these records.

    python benchmarks/ceiling_scoring.py --changes changes-train.jsonl \
        --issues issues-train.jsonl --cache /tmp/prepared.pkl [--parts a b c d]

`--cache` is compare_scoring.py's (`--encoder --cache`: the prepared records, their texts and
float embeddings); the diff model's integer-graph embeddings are computed once and cached
beside it (compare_scoring_deployed.embeddings). Every figure is with a diff (the 2,065
changes), each held-out record scored as deployed (per unit, each unit pulled toward its change,
tests/docs-only units never high, the riskiest-unit envelope), models trained on both files'
records of the training folds (5 folds of whole repositories, validation.folds), as `cartriage
train` validates. Parts:
  a. an optimistic bound: the best of the candidate families (LR on the embedding + numeric
     features with several C, shares and embeddings, gradient-boosted trees, their mixtures,
     TF-IDF at record level) with every choice, the decision rule's weights included, picked on
     the held-out folds themselves: what no tuning of these families can beat; and the same
     with a new input, the embedding of the record's paths and first changed lines;
  b. a learning curve: the shipped recipe trained on 25/50/75/100% of the training folds'
     repositories (3 seeds), a fitted log-curve and the data it would need to reach 0.70;
  c. the same recipe on a random record-level split (how much is repository-specific: never the
     figure that counts);
  d. label consistency: how often a change's nearest neighbours from other repositories (text
     embedding, paths) carry another tier, the agreement of the two annotators where a record
     had two, and the highs predicted low (nested rule) with what the model saw.
Prints plain text tables; about 4 min CPU on one core (and about 1 min once for the
embeddings).
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_scoring_deployed as deployed_cache  # noqa: E402 (this folder, run as a script)
from compare_scoring import Tfidf, with_text_features  # noqa: E402

from cartriage.scoring import features, train, validation  # noqa: E402
from cartriage.scoring.scores import TIERS  # noqa: E402

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
SHIPPED = {"C": 0.3, "share": 0.5}  # train.C["consequence"], train.CHANGE_SHARE
TARGET = 0.70
# The oracle's rule grid: wider than validation._GRID (0.1-10, 33 points).
ORACLE_GRID = np.exp(np.linspace(np.log(0.05), np.log(20), 33))


class Numeric:
    """A model fitted on the numeric columns only, fed the diff model's full input rows."""

    def __init__(self, model, columns: int):
        self.model, self.columns, self.classes_ = model, columns, model.classes_

    def predict_proba(self, X):
        return self.model.predict_proba(X[:, :self.columns])


def fit_lr(C: float, balanced: bool = False):
    from sklearn.linear_model import LogisticRegression

    def fit(records):
        return LogisticRegression(C=C, class_weight="balanced" if balanced else None,
                                  solver="lbfgs", max_iter=2000, random_state=train.SEED).fit(
            train.rows("consequence", records), np.array([p.consequence for p in records]))
    return fit


def fit_trees(records):
    from sklearn.ensemble import HistGradientBoostingClassifier

    n = features.numeric_dimension("consequence")
    X = train.rows("consequence", records)[:, :n]
    trees = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                           random_state=0)
    return Numeric(trees.fit(X, np.array([p.consequence for p in records])), n)


def unit_rows(model, records, share: float) -> list[np.ndarray]:
    """Each record's unit probabilities as deployed before the decision (units pulled toward
    their change by `share`, tests/docs-only units kept alone); a record without units: its
    whole row. One model call for all the records."""
    train.CHANGE_SHARE["consequence"] = share
    blocks = [train.inputs("consequence", train.in_change(p, p.units_c), p.diff_e, p.text_k)
              if p.units_c.shape[0] else
              train.inputs("consequence", p.record_c[None, :], p.diff_e, p.text_k)
              for p in records]
    P = train._proba(model, np.vstack(blocks))
    return np.split(P, np.cumsum([len(b) for b in blocks])[:-1])


def envelope(rows: list[np.ndarray], records) -> np.ndarray:
    """Records' probabilities as deployed: tests/docs-only units never high
    (decision.minor_unit), then the riskiest-unit envelope (decision.envelope)."""
    out = np.zeros((len(rows), 3))
    for i, (r, p) in enumerate(zip(rows, records, strict=True)):
        if p.units_c.shape[0] and p.minor.any():
            r = r.copy()
            r[p.minor, 1] += r[p.minor, 2]
            r[p.minor, 2] = 0.0
        low, high = r[:, 0].min(), r[:, 2].max()
        out[i] = (low, max(0.0, 1.0 - low - high), high)
    return out


def out_of_fold(data, fold, fit, shares=SHARES, keep=None) -> dict[float, list]:
    """{share: each record's out-of-fold unit rows}; `keep` (a mask) limits the training
    records (the learning curve); one fit per fold serves every share (the model is fitted on
    whole records, the share only changes the deployed rows)."""
    out = {s: [None] * len(data) for s in shares}
    for k in np.unique(fold):
        records = [p for i, p in enumerate(data) if fold[i] != k and (keep is None or keep[i])]
        model = fit(records)
        held = np.flatnonzero(fold == k)
        for share in shares:
            for i, rows in zip(held, unit_rows(model, [data[i] for i in held], share),
                               strict=True):
                out[share][i] = rows
    return out


def confusions(P, y, minor, grid=ORACLE_GRID):
    """Confusion matrices of every rule on `grid`: (w_low, w_high, w_minor, 3, 3), the
    decision.tier rule vectorised (ties to the higher tier)."""
    truth = np.eye(3, dtype=np.float32)[y]
    major, small = ~minor, minor
    P = P.astype(np.float32)
    w = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1)  # (G, G, 2)
    Pm = P[major]
    scores = np.stack([w[..., 0, None] * Pm[:, 0], np.broadcast_to(Pm[:, 1], w.shape[:2]
                                                                   + (len(Pm),)),
                       w[..., 1, None] * Pm[:, 2]], axis=-1)  # (G, G, n, 3)
    pred = 2 - scores[..., ::-1].argmax(axis=-1)
    cm_major = np.einsum("nt,abnp->abtp", truth[major], np.eye(3, dtype=np.float32)[pred])
    Ps = P[small]
    low = grid[:, None] * Ps[None, :, 0] >= Ps[None, :, 1] + Ps[None, :, 2]
    cm_minor = np.einsum("nt,gnp->gtp", truth[small], np.eye(3)[np.where(low, 0, 1)])
    return cm_major[:, :, None] + cm_minor[None, None, :]


def f1_of(cm) -> np.ndarray:
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-1) + cm.sum(axis=-2)
    return np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0), axis=-1)


def oracle(P, y, minor, fold) -> dict:
    """The rule picked on the held-out predictions themselves: one rule for all folds with at
    most 1 high in 200 predicted low (`pooled`), one rule for all folds without that limit
    (`free`), and a rule for each fold on that fold alone without the limit (`per fold`)."""
    cm = confusions(P, y, minor)
    f1, misses = f1_of(cm), cm[..., 2, 0]
    allowed = int(np.sum(y == 2)) // validation.HIGH_LOW_RATE
    ok = np.where(misses <= allowed, f1, -1)
    best = np.unravel_index(ok.argmax(), ok.shape)
    free = np.unravel_index(f1.argmax(), f1.shape)
    total = np.zeros((3, 3))
    for k in np.unique(fold):
        held = fold == k
        cmk = confusions(P[held], y[held], minor[held])
        total += cmk[np.unravel_index(f1_of(cmk).argmax(), cmk.shape[:3])]
    return {"pooled": (float(f1[best]), int(misses[best])),
            "free": (float(f1[free]), int(misses[free])),
            "per fold": (float(f1_of(total)), int(total[2, 0]))}


def nested(P, y, minor, fold) -> dict:
    """The figure that counts: each fold's rule chosen on the other folds (validation)."""
    pred = validation.rule_per_fold(P, y, fold, minor)
    m = validation.metrics(y, pred, P)
    return {**m, "per_fold": validation.per_fold(y, pred, fold), "pred": pred}


def part_a(data, changes, y, minor, fold_all, float_e, int_e) -> None:
    print("\n## a. Optimistic bound: every choice picked on the held-out folds\n")
    fold = fold_all[changes]
    rows = {}
    cpu = time.process_time()
    families = {f"LR C={C}": fit_lr(C) for C in (0.1, 0.3, 1.0, 3.0)}
    families["LR C=0.3 balanced"] = fit_lr(0.3, balanced=True)
    families["trees"] = fit_trees
    for name, fit in families.items():
        rows[name] = out_of_fold(data, fold_all, fit)
    for p, e in zip(data, float_e, strict=True):
        p.diff_e = e
    rows["LR C=0.3 float embedding"] = out_of_fold(data, fold_all, fit_lr(0.3))
    # A new input, not one of the families tried before: the embedding of the record's paths
    # and first changed lines (compare_scoring.diff_text) after the text's.
    for p, e, d in zip(data, int_e, STATE["cache"]["diff_embeddings"], strict=True):
        p.diff_e = np.concatenate([e, d]).astype(np.float32)
    rows["LR C=0.3 + paths-and-lines embedding"] = out_of_fold(data, fold_all, fit_lr(0.3))
    for p, e in zip(data, int_e, strict=True):
        p.diff_e = e
    print(f"(out-of-fold unit rows of {len(rows)} fitted families x {len(SHARES)} shares: "
          f"{time.process_time() - cpu:.0f} s CPU)")
    tfidf = tfidf_oof(data, fold_all)
    enveloped = {(name, s): envelope(r[s], data)[changes] for name, r in rows.items()
                 for s in SHARES}
    results = []

    def consider(label, P):
        results.append((label, oracle(P, y, minor, fold), P))

    for (name, s), P in enveloped.items():
        consider(f"{name}, share {s}", P)
    consider("TF-IDF word+char, LR C=10 (record level)", tfidf)
    lr_names = [n for n in rows if n != "trees"]
    for name in lr_names:
        for s in (0.25, 0.5, 0.75):
            for w in (0.2, 0.35, 0.5):
                mixed = [(1 - w) * a + w * b for a, b in zip(rows[name][s], rows["trees"][s],
                                                             strict=True)]
                base = envelope([m for m, keep in zip(mixed, changes, strict=True) if keep],
                                [p for p, keep in zip(data, changes, strict=True) if keep])
                consider(f"{1 - w:.2f} x {name} + {w:.2f} x trees, share {s}", base)
    results.sort(key=lambda r: -r[1]["pooled"][0])
    for label, _, P in results[:10]:
        for t in (0.15, 0.3):
            consider(f"{1 - t:.2f} x ({label}) + {t:.2f} x TF-IDF", (1 - t) * P + t * tfidf)
    results.sort(key=lambda r: -r[1]["pooled"][0])
    print(f"{len(results)} candidates (families x shares x mixtures), rule grid "
          f"{len(ORACLE_GRID)}^3 (w_low, w_high, w_minor; {ORACLE_GRID[0]:.2f}-"
          f"{ORACLE_GRID[-1]:.0f})")
    print("| candidate | one rule, <=2/532 high->low | one rule, no limit | a rule per fold, "
          "no limit | nested rule (honest) |")
    print("|---|---|---|---|---|")
    shown = results[:8] + [r for r in results if r[0] in (
        "LR C=0.3, share 0.5", "trees, share 0.5", "TF-IDF word+char, LR C=10 (record level)",
        "LR C=0.3 float embedding, share 0.5", "LR C=0.3 + paths-and-lines embedding, share 0.5")]
    for label, o, P in shown:
        n = nested(P, y, minor, fold)
        print(f"| {label} | {o['pooled'][0]:.3f} ({o['pooled'][1]}) | {o['free'][0]:.3f} "
              f"({o['free'][1]}) | {o['per fold'][0]:.3f} ({o['per fold'][1]}) | "
              f"{n['macro_f1']:.3f} ({n['high_predicted_low']}) |", flush=True)
    best = max(results, key=lambda r: r[1]["per fold"][0])
    print(f"Best of all with a rule per fold picked on that fold: {best[0]}: "
          f"{best[1]['per fold'][0]:.3f} ({best[1]['per fold'][1]}/532 high->low)")
    print(f"Best with one rule and <=2/532: {results[0][0]}: {results[0][1]['pooled'][0]:.3f}")
    known = [r for r in results if "paths-and-lines" not in r[0]]
    print(f"... without the paths-and-lines embedding: {known[0][0]}: "
          f"{known[0][1]['pooled'][0]:.3f}")
    print(f"(a)'s CPU: {time.process_time() - cpu:.0f} s")


def tfidf_oof(data, fold) -> np.ndarray:
    """TF-IDF of the text + paths + diff identifiers, LR C=10, record level (compare_scoring)."""
    s = STATE["cache"]
    P = np.zeros((len(data), 3))
    for k in np.unique(fold):
        train_idx, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        P[held] = Tfidf(10.0).fit(s, train_idx, "diff", None).predict(s, held, "diff")
    return P[STATE["changes"]]


def log_fit(x, f):
    b, a = np.polyfit(np.log(x), f, 1)
    return a, b


def part_b(data, changes, y, minor, fold_all, seeds=(0, 1, 2)) -> None:
    print("\n## b. Learning curve: the shipped recipe on part of the training repositories\n")
    cpu = time.process_time()
    fold = fold_all[changes]
    # (fraction, seed, training records, repositories (means of the folds), nested macro-F1,
    # its value per held-out fold, Brier, hindsight macro-F1 with the guard)
    points = []
    print("| share of training repositories | seed | training repositories / records (mean "
          "of folds) | nested macro-F1 | per fold | high->low | Brier | one rule, <=2/532 |")
    print("|---|---|---|---|---|---|---|---|")
    for fraction in (0.25, 0.5, 0.75, 1.0):
        for seed in (seeds if fraction < 1 else (0,)):
            P, n_repos, n_records = curve_oof(data, fold_all, fraction, seed)
            n = nested(P[changes], y, minor, fold)
            o = oracle(P[changes], y, minor, fold)
            points.append((fraction, seed, np.mean(n_records), np.mean(n_repos),
                           n["macro_f1"], n["per_fold"], n["brier"], o["pooled"][0]))
            print(f"| {fraction:.0%} | {seed} | {np.mean(n_repos):.0f} / {np.mean(n_records):.0f}"
                  f" | {n['macro_f1']:.3f} | {n['per_fold']} | {n['high_predicted_low']} | "
                  f"{n['brier']:.3f} | {o['pooled'][0]:.3f} |", flush=True)
    records = np.array([p[2] for p in points])
    f1 = np.array([p[4] for p in points])
    fractions = np.array([p[0] for p in points])
    print("\nMean of the seeds: | share | records | nested macro-F1 | one rule, <=2/532 | Brier |")
    means = {}
    for fraction in np.unique(fractions):
        at = fractions == fraction
        means[fraction] = [float(np.mean([points[i][j] for i in np.flatnonzero(at)]))
                           for j in (2, 4, 7, 6)]
        print(f"| {fraction:.0%} | {means[fraction][0]:.0f} | {means[fraction][1]:.3f} | "
              f"{means[fraction][2]:.3f} | {means[fraction][3]:.3f} |")
    last = [means[1.0][j] - means[0.5][j] for j in (1, 2, 3)]
    pace = [2 ** ((TARGET - means[1.0][j + 1]) / last[j]) if last[j] > 0 else np.inf
            for j in (0, 1)]
    print(f"Last doubling (50% -> 100%): nested macro-F1 {last[0]:+.3f}, one rule "
          f"{last[1]:+.3f}, Brier {last[2]:+.3f}; at that pace 0.70 needs {pace[0]:.0f}x "
          f"today's data (nested) or {pace[1]:.0f}x (one rule)")
    a, b = log_fit(records, f1)
    need = np.exp((TARGET - a) / b) if b > 0 else np.inf
    print(f"\nFit on the pooled points: macro-F1 = {a:.3f} + {b:.4f} ln(training records); "
          f"per doubling {b * np.log(2):+.3f}")
    print(f"0.70 if the trend held: {need:,.0f} training records "
          f"({need / records.max():.1f}x today's {records.max():.0f})")
    # Uncertainty: the same fit on each held-out fold's curve, and a bootstrap over the folds.
    per_fold = np.array([p[5] for p in points])  # (points, folds)
    slopes = [log_fit(records, per_fold[:, k])[1] for k in range(per_fold.shape[1])]
    print(f"Slope per doubling on each held-out fold: "
          f"{[round(float(s * np.log(2)), 3) for s in slopes]}")
    rng = np.random.default_rng(0)
    needs = []
    for _ in range(2000):
        pick = rng.integers(0, per_fold.shape[1], per_fold.shape[1])
        aa, bb = log_fit(records, per_fold[:, pick].mean(axis=1))
        needs.append(np.exp((TARGET - aa) / bb) / records.max() if bb > 0 else np.inf)
    needs = np.array(needs)
    finite = needs[np.isfinite(needs)]
    lo, mid, hi = np.percentile(finite, [10, 50, 90]) if len(finite) else (np.inf,) * 3
    print(f"Bootstrap over the 5 folds (2,000 draws): data needed for 0.70, x today's: 10th "
          f"percentile {lo:.1f}x, median {mid:.1f}x, 90th {hi:.1f}x; slope <= 0 in "
          f"{np.mean(~np.isfinite(needs)):.0%} of draws")
    print(f"(b)'s CPU: {time.process_time() - cpu:.0f} s")


def curve_oof(data, fold, fraction, seed) -> tuple[np.ndarray, list[int], list[int]]:
    """Out-of-fold probabilities of the shipped recipe, each fold trained on `fraction` of the
    other folds' repositories (a seeded draw per fold), with each fold's count of training
    repositories and records."""
    rng = np.random.default_rng(seed)
    repos = np.array([p.repo for p in data])
    P = np.zeros((len(data), 3))
    n_repos, n_records = [], []
    fit = fit_lr(SHIPPED["C"])
    for k in np.unique(fold):
        pool = sorted(set(repos[fold != k]))
        chosen = (set(rng.choice(pool, size=max(1, round(fraction * len(pool))), replace=False))
                  if fraction < 1 else set(pool))
        records = [p for i, p in enumerate(data) if fold[i] != k and repos[i] in chosen]
        n_repos.append(len(chosen))
        n_records.append(len(records))
        held = np.flatnonzero(fold == k)
        P[held] = envelope(unit_rows(fit(records), [data[i] for i in held], SHIPPED["share"]),
                           [data[i] for i in held])
    return P, n_repos, n_records


def part_c(data, changes, y, minor, fold) -> None:
    print("\n## c. Within vs across repositories: a random record-level split (not the "
          "figure that counts)\n")
    cpu = time.process_time()
    print("| split | nested macro-F1 | per fold | high->low | Brier | confusion |")
    print("|---|---|---|---|---|---|")
    for label, folds in (("5 folds of whole repositories (as validated)", fold),
                         *((f"5 random folds of records, seed {seed}",
                            np.random.default_rng(seed).permutation(len(data)) % 5)
                           for seed in (0, 1))):
        rows = out_of_fold(data, folds, fit_lr(SHIPPED["C"]), shares=(SHIPPED["share"],))
        P = envelope(rows[SHIPPED["share"]], data)[changes]
        n = nested(P, y, minor, folds[changes])
        print(f"| {label} | {n['macro_f1']:.3f} | {n['per_fold']} | {n['high_predicted_low']} "
              f"| {n['brier']:.3f} | {n['confusion']} |", flush=True)
    print(f"(c)'s CPU: {time.process_time() - cpu:.0f} s")


PATH_TOKEN = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+")


def part_d(data, changes, y, minor, fold, raw, shipped_pred, shipped_P) -> None:
    print("\n## d. Label consistency\n")
    from sklearn.feature_extraction.text import TfidfVectorizer

    s = STATE["cache"]
    idx = np.flatnonzero(changes)
    repos = np.array([data[i].repo for i in idx])
    E = s["embeddings"][idx].astype(np.float64)
    paths = [" ".join(s["paths"][i]) for i in idx]
    X = TfidfVectorizer(token_pattern=None, tokenizer=lambda t: [
        w.lower() for w in PATH_TOKEN.findall(t)], lowercase=False).fit_transform(paths)
    views = {"text embedding": E @ E.T, "paths (TF-IDF of path words)": (X @ X.T).toarray()}
    print("Nearest neighbours of each change (k=5, cosine), among other repositories' "
          "changes vs its own repository's:")
    print("| neighbours by | where | another tier | low<->high | kNN vote macro-F1 | "
          "similarity of the 5 (median) |")
    print("|---|---|---|---|---|---|")
    same = repos[:, None] == repos[None, :]
    np.fill_diagonal(same, False)
    for view, S in views.items():
        np.fill_diagonal(S, -np.inf)
        for where, allowed in (("other repositories", repos[:, None] != repos[None, :]),
                               ("same repository", same)):
            masked = np.where(allowed, S, -np.inf)
            top = np.argsort(-masked, axis=1, kind="stable")[:, :5]
            valid = np.isfinite(np.take_along_axis(masked, top, axis=1))
            tiers = y[top]
            differ = (tiers != y[:, None]) & valid
            extreme = (np.abs(tiers - y[:, None]) == 2) & valid
            counts = np.stack([((tiers == t) & valid).sum(axis=1) for t in range(3)], axis=1)
            vote = counts.argmax(axis=1)
            has = valid.any(axis=1)
            print(f"| {view} | {where} | {differ.sum() / valid.sum():.1%} | "
                  f"{extreme.sum() / valid.sum():.1%} | "
                  f"{validation.macro_f1(y[has], vote[has]):.3f} | "
                  f"{np.median(np.take_along_axis(masked, top, axis=1)[valid]):.2f} |")
    # Near-duplicates across repositories with the two extreme tiers.
    S = views["text embedding"]
    other = repos[:, None] != repos[None, :]
    close = np.argwhere(np.triu(np.where(other, S, -np.inf) >= 0.9, 1))
    extreme = [(a, b) for a, b in close if abs(y[a] - y[b]) == 2]
    print(f"\nPairs of changes from different repositories with text cosine >= 0.9: "
          f"{len(close)}; of them low vs high: {len(extreme)}")
    for a, b in extreme[:6]:
        print(f"  {raw[idx[a]]['id']} ({TIERS[y[a]]}): {raw[idx[a]]['title'][:70]!r} | "
              f"{raw[idx[b]]['id']} ({TIERS[y[b]]}): {raw[idx[b]]['title'][:70]!r}")
    annotators(raw)
    print("\nHighs predicted low by the shipped recipe (nested rule, as deployed):")
    for j in np.flatnonzero((y == 2) & (shipped_pred == 0)):
        r, p = raw[idx[j]], data[idx[j]]
        files = ", ".join(f["path"] for f in r["files"][:4]) + (
            f" (+{len(r['files']) - 4})" if len(r["files"]) > 4 else "")
        others = np.argsort(-np.where(other[j], S[j], -np.inf))[:5]
        print(f"- {r['id']} (fold {fold[j]}): {r['title'][:90]!r}\n  files: {files}; "
              f"{p.units_c.shape[0]} units, {int(p.minor.sum())} tests/docs-only; p(low/medium/"
              f"high) {np.round(shipped_P[j], 2).tolist()}\n  labeller: "
              f"{r['labels'].get('reason', '')[:200]!r}\n  5 nearest other-repository "
              f"changes' tiers: {[TIERS[t] for t in y[others]]}")


def annotators(raw) -> None:
    """Where a record had two annotators: how often they agree, and the macro-F1 of one
    annotator's tier against the other's and against the record's label (the higher of the
    two: RUBRIC.md)."""
    for kind in ("changes", "issues"):
        pairs = [(TIERS.index(a), TIERS.index(b), TIERS.index(r["labels"]["consequence"]))
                 for r in raw if ("sha" in r) == (kind == "changes")
                 for a, b in [r["labels"].get("consequence_annotators") or (None, None)]
                 if a is not None]
        if not pairs:
            continue
        a, b, label = (np.array(v) for v in zip(*pairs, strict=True))
        cm = np.zeros((3, 3), dtype=int)
        np.add.at(cm, (a, b), 1)
        print(f"\nTwo annotators, {kind}: {len(pairs)} records, agree on {np.mean(a == b):.0%}; "
              f"macro-F1 of one against the other {validation.macro_f1(a, b):.3f}, of each "
              f"against the label {validation.macro_f1(label, a):.3f} and "
              f"{validation.macro_f1(label, b):.3f}; low vs high {int(cm[0, 2] + cm[2, 0])}; "
              f"confusion (rows first annotator) {cm.tolist()}")


STATE: dict = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=Path, required=True)
    parser.add_argument("--issues", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True,
                        help="records prepared by compare_scoring.py --encoder --cache")
    parser.add_argument("--parts", nargs="*", default=["a", "b", "c", "d"])
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    s = pickle.loads(args.cache.read_bytes())
    data = with_text_features(s)  # text_e = diff_e = the float graph's embeddings
    float_e = s["embeddings"]
    int_e = deployed_cache.embeddings(args.cache, s["texts"], deployed_cache.WHOLE)
    for p, e in zip(data, int_e, strict=True):
        p.diff_e = e  # the diff model reads the integer graph's (train.EMBEDDED)
    raw = {json.loads(line)["id"]: json.loads(line) for path in (args.changes, args.issues)
           for line in path.read_text().splitlines() if line.strip()}
    raw = [raw[p.id] for p in data]
    changes = np.array([not p.issue for p in data])
    fold_all = validation.folds([p.repo for p in data])
    y = np.array([p.consequence for p in data])[changes]
    minor = train.minor_only(data)[changes]
    fold = fold_all[changes]
    STATE.update(cache=s, changes=changes)
    print(f"{len(data)} records ({int(changes.sum())} changes, {int(y.__eq__(2).sum())} high), "
          f"{len({p.repo for p in data})} repositories, {validation.FOLDS} grouped folds")
    shipped = out_of_fold(data, fold_all, fit_lr(SHIPPED["C"]), shares=(SHIPPED["share"],))
    P = envelope(shipped[SHIPPED["share"]], data)[changes]
    n = nested(P, y, minor, fold)
    print(f"Shipped recipe (LR C=0.3 on the integer embedding + numeric, share 0.5), nested "
          f"rule: macro-F1 {n['macro_f1']:.3f}, per fold {n['per_fold']}, high->low "
          f"{n['high_predicted_low']}/{n['highs']}, Brier {n['brier']:.3f}")
    if "a" in args.parts:
        part_a(data, changes, y, minor, fold_all, float_e, int_e)
    if "b" in args.parts:
        part_b(data, changes, y, minor, fold_all)
    if "c" in args.parts:
        part_c(data, changes, y, minor, fold_all)
    if "d" in args.parts:
        part_d(data, changes, y, minor, fold, raw, n["pred"], P)


if __name__ == "__main__":
    main()
