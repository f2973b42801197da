"""How far the data goes for issue-text triage (the `consequence-issue` model): four measures.

    python benchmarks/ceiling_text.py --cache /tmp/prepared.pkl \
        --issues issues-train.jsonl [--part bound curve low patch] [--seeds 3]

`--cache` is benchmarks/compare_scoring.py's cache (`--encoder --cache`: the prepared records
and their text embeddings, float graph); nothing is re-encoded. All on 5 folds of whole
repositories (validation.folds), issues scored from their text alone, training on every record
of the other folds (issues at weight 1, the changes' PR texts at 0.5, as `cartriage train`).

- bound: an optimistic bound. Each family (the shipped text model's recipe over a grid of C,
  similar-issue k and rubric-word scale; TF-IDF; hashed LR; gradient-boosted trees; the similar
  issues' shares alone) with every choice picked on the held-out folds themselves: the best
  configuration pooled, its rule chosen on the held-out predictions (pooled, then per fold),
  with and without the high->low guard, and the best configuration of each fold.
- curve: a learning curve. Each held-out fold scored by the shipped recipe trained on 25/50/75/
  100% of the other folds' repositories (seeded), nested rule; macro-F1 = a + b log(issues) fitted
  and solved for 0.60.
- low: per-class F1 of the shipped recipe (nested rule); macro-F1 if low were predicted perfectly
  or as well as medium; a seeded sample of 15 of the low issues (title, text, patched files and
  the labeller's reason) to read with the rubric.
- patch: the same model also given the resolving patch's numeric features (issue+patch), or
  only its roles (an oracle of which roles the patch touches).
Prints plain tables; about 8 min CPU on one core for all four parts (6 of them the bound's
61 configurations).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import time
from pathlib import Path

import numpy as np
from compare_scoring import _proba, with_text_features

from cartriage.scoring import features, train, validation

N = features.numeric_dimension("consequence")
TIER_NAMES = ("low", "medium", "high")
ROLE_COLUMNS = [features.CONSEQUENCE_NUMERIC.index(f"files_with_role:{r}")
                for r in features.ROLES]


class Data:
    """The cached records as arrays: texts' inputs, labels, folds, training weights."""

    def __init__(self, cache: Path):
        s = pickle.loads(cache.read_bytes())
        d = with_text_features(s)
        self.ids = [p.id for p in d]
        self.repo = np.array([p.repo for p in d])
        self.texts = s["texts"]
        self.y = np.array([p.consequence for p in d])
        self.issue = np.array([p.issue for p in d])
        self.w = np.where(self.issue, 1.0, train.TEXT_WEIGHT_CHANGES)
        self.fold = validation.folds(list(self.repo))
        self.length = np.vstack([p.text_c[:N] for p in d])
        self.hashed = np.vstack([p.text_c for p in d])
        self.emb = np.vstack([p.text_e for p in d]).astype(np.float32)
        self.words = np.vstack([p.text_k for p in d])
        self.patch = np.vstack([p.record_c[:N] for p in d])
        self.patch_emb = np.asarray(s["diff_embeddings"], dtype=np.float32)

    def shares(self, rows: np.ndarray, pool: np.ndarray, k: int, power: float = 1.0):
        """Similar issues' tier shares of `rows` among the issues in `pool` (indices), never
        from a row's own repository (as train.rows does for training rows)."""
        pool = pool[self.issue[pool]]
        exclude = self.repo[rows][:, None] == self.repo[pool][None, :]
        out = features.neighbour_shares(self.emb[rows], self.emb[pool], self.y[pool], k, exclude)
        if power == 1.0:
            return out
        similar = np.where(exclude, -np.inf, self.emb[rows] @ self.emb[pool].T)
        top = np.argsort(-similar, axis=1, kind="stable")[:, :k]
        weight = np.maximum(np.take_along_axis(similar, top, axis=1), 0) ** power
        tiers = self.y[pool][top]
        got = np.stack([(weight * (tiers == t)).sum(axis=1) for t in range(3)], axis=1)
        return got / np.maximum(got.sum(axis=1, keepdims=True), 1e-9)

    def inputs(self, rows, pool, k=20, words=0.3, extra=None):
        """The shipped text model's inputs (train.inputs' order) for `rows`."""
        parts = [self.length[rows], self.emb[rows]]
        if words:
            parts.append(np.float32(words) * self.words[rows])
        if k:
            parts.append(self.shares(rows, pool, k))
        if extra is not None:
            parts.append(extra[rows])
        return np.hstack(parts)


def lr(C: float, balanced: bool = False):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight="balanced" if balanced else None,
                              max_iter=2000, random_state=train.SEED)


def held_out(data: Data, fit_predict, train_of=None) -> np.ndarray:
    """Out-of-fold P (issues' rows filled): fit_predict(train_rows, test_rows) per fold;
    `train_of(k)` narrows a fold's training rows (the learning curve's subsets)."""
    P = np.zeros((len(data.y), 3))
    for k in range(validation.FOLDS):
        trn = np.where(data.fold != k)[0] if train_of is None else train_of(k)
        test = np.where((data.fold == k) & data.issue)[0]
        P[test] = fit_predict(trn, test)
    return P


def shipped_family(data: Data, C=1.0, k=20, words=0.3, extra=None, balanced=False):
    def run(trn, test):
        model = lr(C, balanced).fit(data.inputs(trn, trn, k, words, extra), data.y[trn],
                                    sample_weight=data.w[trn])
        return _proba(model, data.inputs(test, trn, k, words, extra))
    return run


def tfidf_family(data: Data, Cs=(1.0, 10.0, 100.0)):
    """{C: P}: word 1-2 + char 3-5 grams (compare_scoring_text's), vectorised once per fold."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    out = {C: np.zeros((len(data.y), 3)) for C in Cs}
    for k in range(validation.FOLDS):
        trn = np.where(data.fold != k)[0]
        test = np.where((data.fold == k) & data.issue)[0]
        union = make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50000, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=3,
                            max_features=50000, sublinear_tf=True))
        Xtr = union.fit_transform([data.texts[i] for i in trn])
        Xte = union.transform([data.texts[i] for i in test])
        for C in Cs:
            out[C][test] = _proba(lr(C).fit(Xtr, data.y[trn], sample_weight=data.w[trn]), Xte)
    return out


def trees_family(data: Data, leaves=15, iterations=200):
    from sklearn.ensemble import HistGradientBoostingClassifier

    def run(trn, test):
        model = HistGradientBoostingClassifier(max_iter=iterations, max_leaf_nodes=leaves,
                                               learning_rate=0.05, random_state=train.SEED)
        model.fit(data.inputs(trn, trn), data.y[trn], sample_weight=data.w[trn])
        return _proba(model, data.inputs(test, trn))
    return run


def neighbours_alone(data: Data, k: int, power: float = 1.0):
    def run(trn, test):
        return data.shares(test, trn, k, power)
    return run


def nested(P, data):
    keep = data.issue
    return validation.rule_per_fold(P[keep], data.y[keep], data.fold[keep])


def optimistic(P, data) -> dict[str, float]:
    """Macro-F1 of held-out P: the nested rule, then rules chosen on the held-out predictions
    themselves (pooled; per fold; per fold without the high->low guard)."""
    keep = data.issue
    P, y, fold = P[keep], data.y[keep], data.fold[keep]
    pooled = validation.apply(P, validation.choose_rule(P, y))
    per_fold = np.zeros_like(y)
    unguarded = np.zeros_like(y)
    for k in range(validation.FOLDS):
        inside = fold == k
        per_fold[inside] = validation.apply(P[inside], validation.choose_rule(P[inside],
                                                                              y[inside]))
        unguarded[inside] = validation.apply(P[inside], best_unguarded(P[inside], y[inside]))
    return {"nested": validation.macro_f1(y, validation.rule_per_fold(P, y, fold)),
            "pooled rule": validation.macro_f1(y, pooled),
            "rule per fold": validation.macro_f1(y, per_fold),
            "per fold, no guard": validation.macro_f1(y, unguarded),
            "high->low pooled": int(np.sum((pooled == 0) & (y == 2))),
            "high->low per fold, no guard": int(np.sum((unguarded == 0) & (y == 2)))}


def best_unguarded(P, y):
    """The tier weights on validation's grid with the best macro-F1, whatever high->low."""
    from cartriage.scoring import decision

    grid = validation._GRID
    low, high = np.meshgrid(grid, grid, indexing="ij")
    weights = np.stack([low.ravel(), np.ones(low.size), high.ravel()], axis=1)
    pred = (P[None, :, :] * weights[:, None, :]).argmax(axis=2)
    scores = [validation.macro_f1(y, row) for row in pred]
    best = int(np.argmax(scores))
    return decision.Rule(float(weights[best, 0]), float(weights[best, 2]))


def part_bound(data: Data) -> dict[str, np.ndarray]:
    """Every family's held-out P by configuration; prints each family's optimistic figures."""
    found: dict[str, np.ndarray] = {}
    started = time.process_time()
    for C in (0.3, 1.0, 3.0):
        for k in (0, 10, 20, 30, 40):
            for words in (0.0, 0.3, 1.0):
                found[f"shipped recipe C={C} k={k} words x{words}"] = held_out(
                    data, shipped_family(data, C, k, words))
    for C, P in tfidf_family(data).items():
        found[f"TF-IDF C={C}"] = P
    for C in (0.1, 1.0):
        def hashed(trn, test, C=C):
            model = lr(C, balanced=True).fit(data.hashed[trn], data.y[trn],
                                             sample_weight=data.w[trn])
            return _proba(model, data.hashed[test])
        found[f"hashed LR balanced C={C}"] = held_out(data, hashed)
    found["trees (embedding + words + shares)"] = held_out(data, trees_family(data))
    for k in (5, 10, 20, 40, 80):
        for power in (1.0, 4.0):
            found[f"similar issues alone k={k} power {power}"] = held_out(
                data, neighbours_alone(data, k, power))
    print(f"\n## a. Optimistic bound ({len(found)} configurations, "
          f"{time.process_time() - started:.0f} s CPU)")
    print("| family | configurations | best configuration (pooled rule) | nested rule | "
          "rule on all held-out | rule per held-out fold | per fold, no guard | "
          "high->low (pooled / no guard) |")
    print("|---|---|---|---|---|---|---|---|")
    keep = data.issue
    families = ("shipped recipe", "TF-IDF", "hashed LR", "trees", "similar issues alone")
    for family in families:
        names = [n for n in found if n.startswith(family)]
        scored = {n: optimistic(found[n], data) for n in names}
        best = max(names, key=lambda n: scored[n]["pooled rule"])
        b = scored[best]
        print(f"| {family} | {len(names)} | {best} | {b['nested']:.3f} | {b['pooled rule']:.3f} "
              f"| {b['rule per fold']:.3f} | {b['per fold, no guard']:.3f} | "
              f"{b['high->low pooled']} / {b['high->low per fold, no guard']} |")
    y, fold = data.y[keep], data.fold[keep]
    best_per_fold = []
    for k in range(validation.FOLDS):
        inside = fold == k
        score = {n: validation.macro_f1(y[inside], validation.apply(
            found[n][keep][inside], best_unguarded(found[n][keep][inside], y[inside])))
            for n in found}
        top = max(score, key=score.get)
        best_per_fold.append((round(score[top], 3), top))
    print(f"best of all {len(found)} configurations in each held-out fold, its own unguarded "
          f"rule: {best_per_fold}; mean {np.mean([s for s, _ in best_per_fold]):.3f}")
    return found


def part_curve(data: Data, seeds: int) -> None:
    print("\n## b. Learning curve (shipped recipe; nested rule; macro-F1 per held-out fold)")
    print("| share of the other folds' repositories | seed | issues trained on | lows | "
          "macro-F1 (pooled) | per fold | Brier |")
    print("|---|---|---|---|---|---|---|")
    points = []
    repos = sorted(set(data.repo))
    for share in (0.25, 0.5, 0.75, 1.0):
        for seed in range(seeds if share < 1 else 1):
            rng = random.Random(seed)
            picked = set(rng.sample(repos, round(share * len(repos))) if share < 1 else repos)

            def train_of(k, picked=picked):
                return np.where((data.fold != k) & np.isin(data.repo, list(picked)))[0]

            P = held_out(data, shipped_family(data), train_of)
            keep = data.issue
            pred = nested(P, data)
            y, fold = data.y[keep], data.fold[keep]
            per = validation.per_fold(y, pred, fold)
            issues = np.mean([np.sum(data.issue[train_of(k)]) for k in range(validation.FOLDS)])
            lows = np.mean([np.sum(data.issue[train_of(k)] & (data.y[train_of(k)] == 0))
                            for k in range(validation.FOLDS)])
            f1 = validation.macro_f1(y, pred)
            points.extend((np.sum(data.issue[train_of(k)]), per[k])
                          for k in range(validation.FOLDS))
            print(f"| {share:.0%} | {seed} | {issues:.0f} | {lows:.0f} | {f1:.3f} | {per} | "
                  f"{validation.brier(P[keep], y):.3f} |", flush=True)
    n, f = np.array(points, dtype=float).T
    b, a = np.polyfit(np.log(n), f, 1)
    residual = f - (a + b * np.log(n))
    # Slope's spread: a bootstrap over the (fold, seed) points.
    rng = np.random.default_rng(train.SEED)
    slopes = []
    for _ in range(1000):
        take = rng.integers(0, len(n), len(n))
        slopes.append(np.polyfit(np.log(n[take]), f[take], 1)[0])
    lo, hi = np.percentile(slopes, [5, 95])
    now = np.log(n.max())
    level = a + b * now

    def needed(slope):
        return float(np.exp(now + (0.60 - level) / slope)) if slope > 0 else float("inf")

    low_share = np.sum(data.issue & (data.y == 0)) / np.sum(data.issue)
    print(f"fit: macro-F1 = {a:.3f} + {b:.3f} ln(issues) (residual sd {residual.std():.3f}, "
          f"{len(n)} fold points); slope 90% bootstrap interval {lo:.3f} to {hi:.3f}")
    for name, slope in (("fitted", b), ("slope at the 95th percentile", hi),
                        ("slope at the 5th percentile", lo)):
        need = needed(slope)
        print(f"  0.60 at about {need:,.0f} training issues ({need * low_share:,.0f} low) "
              f"with the {name} slope ({slope:.3f})")


def part_low(data: Data, found: dict[str, np.ndarray] | None, issues_path: Path,
             sample: int) -> None:
    keep = data.issue
    P = (found or {}).get("shipped recipe C=1.0 k=20 words x0.3")
    if P is None:
        P = held_out(data, shipped_family(data))
    y, fold = data.y[keep], data.fold[keep]
    pred = nested(P, data)
    f1 = []
    for k in range(3):
        tp = np.sum((y == k) & (pred == k))
        f1.append(2 * tp / max(np.sum(y == k) + np.sum(pred == k), 1))
    print("\n## c. The low class (shipped recipe, nested rule)")
    print(f"per-class F1 low {f1[0]:.3f}, medium {f1[1]:.3f}, high {f1[2]:.3f}; macro "
          f"{np.mean(f1):.3f}; confusion {validation.metrics(y, pred)['confusion']}")
    perfect = pred.copy()
    perfect[y == 0] = 0
    wrongly = (y != 0) & (pred == 0)
    rule = validation.choose_rule(P[keep], y)
    perfect[wrongly] = 1 + (P[keep][wrongly, 2] * rule.high > P[keep][wrongly, 1])
    print(f"low predicted perfectly (false lows go to medium/high by the rule): macro-F1 "
          f"{validation.macro_f1(y, perfect):.3f}; low as well as medium (F1 {f1[1]:.3f}): "
          f"{(2 * f1[1] + f1[2]) / 3:.3f}; low F1 0 (never predicted): "
          f"{(f1[1] + f1[2]) / 3:.3f}")
    lows_by_repo: dict[str, int] = {}
    for i in np.where(keep & (data.y == 0))[0]:
        lows_by_repo[data.repo[i]] = lows_by_repo.get(data.repo[i], 0) + 1
    print(f"low issues by repository: {sorted(lows_by_repo.items(), key=lambda r: -r[1])}")
    found_per_fold = [(int(np.sum((y == 0) & (pred == 0) & (fold == k))),
                       int(np.sum((y == 0) & (fold == k)))) for k in range(validation.FOLDS)]
    print(f"low issues found per fold (found, in the fold): {found_per_fold}")
    records = {}
    for line in issues_path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["id"]] = record
    low_ids = [data.ids[i] for i in np.where(keep & (data.y == 0))[0]]
    predicted = dict(zip([data.ids[i] for i in np.where(keep)[0]], pred, strict=True))
    print(f"\nA seeded sample of {sample} of the {len(low_ids)} low issues (read with RUBRIC.md):")
    for issue_id in sorted(random.Random(train.SEED).sample(low_ids, sample)):
        r = records[issue_id]
        paths = [f["path"] for f in r["files"]]
        print(f"- {issue_id} (predicted {TIER_NAMES[predicted[issue_id]]}): {r['title']!r}")
        print(f"    text: {' '.join((r.get('message') or '').split())[:300]}")
        more = f" (+{len(paths) - 6} more)" if paths[6:] else ""
        print(f"    patch: {', '.join(paths[:6])}{more}")
        print(f"    labeller: {r['labels'].get('reason', '')}")


def part_patch(data: Data, found: dict[str, np.ndarray] | None) -> None:
    print("\n## d. Text vs patch (shipped recipe + the resolving patch; issues scored with it)")
    print("| inputs | nested rule | rule on all held-out | high->low (nested) | Brier | "
          "confusion (nested) |")
    print("|---|---|---|---|---|---|")
    keep = data.issue
    roles = data.patch[:, ROLE_COLUMNS]
    shipped = (found or {}).get("shipped recipe C=1.0 k=20 words x0.3")
    variants = (
        ("issue text (shipped recipe)", None),
        ("+ the patch's numeric features (size, roles, symbols)", data.patch),
        ("+ the patch's roles only (oracle of roles)", roles),
        ("+ the patch's embedding (paths + first changed lines)", data.patch_emb),
        ("+ the patch's numeric features and embedding", np.hstack([data.patch,
                                                                    data.patch_emb])),
    )
    for name, extra in variants:
        P = shipped if extra is None and shipped is not None else held_out(
            data, shipped_family(data, extra=extra))
        pred = nested(P, data)
        y = data.y[keep]
        m = validation.metrics(y, pred, P[keep])
        pooled = validation.macro_f1(y, validation.apply(P[keep],
                                                         validation.choose_rule(P[keep], y)))
        print(f"| {name} | {m['macro_f1']:.3f} | {pooled:.3f} | {m['high_predicted_low']}/"
              f"{m['highs']} | {m['brier']:.3f} | {m['confusion']} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--issues", type=Path, required=True, help="issues-train.jsonl")
    parser.add_argument("--part", nargs="*", default=["bound", "curve", "low", "patch"],
                        choices=["bound", "curve", "low", "patch"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=15)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    data = Data(args.cache)
    print(f"{len(data.y)} records, {int(data.issue.sum())} issues "
          f"({int(np.sum(data.issue & (data.y == 0)))} low), "
          f"{len(set(data.repo[data.issue]))} issue repositories")
    found = part_bound(data) if "bound" in args.part else None
    if "curve" in args.part:
        part_curve(data, args.seeds)
    if "low" in args.part:
        part_low(data, found, args.issues, args.sample)
    if "patch" in args.part:
        part_patch(data, found)


if __name__ == "__main__":
    main()
