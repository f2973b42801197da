"""Consequence candidates under one grouped protocol (5 folds of whole repositories).

    python benchmarks/compare_scoring.py --changes changes-train.jsonl \
        --issues issues-train.jsonl [--encoder] [--sample 900] [--cache /tmp/prepared.pkl]

Modes: `diff` (changes: diff + PR text), `issue+patch` (issues with their resolving patch),
`issue text` (issues, diff withheld), and across files: trained on changes only and tested on
issues with their patch, and the reverse. The diff-mode candidates are trained on both files'
records with diffs; the text candidates on the issues' texts (the changes' PR texts added at
half weight). Decision rules are chosen on the other folds (nested; the cross-file modes use the
rule chosen on the training file's grouped out-of-fold predictions). `--encoder` adds the
MiniLM sentence encoder shipped in models/encoder/, with two embeddings per record cached:
its text, and its paths and first changed lines.
Prints one table row per candidate and mode, and the CPU and wall time of each candidate.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import re
import time
from pathlib import Path

import numpy as np

from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.intake.change import ChangeSet
from cartriage.scoring import features, train, validation
from cartriage.scoring.records import all_records

KEYWORDS_HIGH = re.compile(r"auth|migrat|payment|billing|secur", re.IGNORECASE)
MINOR_PATH = re.compile(r"(^|/)(docs?|tests?|spec|__tests__)/|\.(md|rst|txt|css|scss)$|"
                        r"(^|/)test_[^/]*$|_test\.[a-z]+$|\.test\.[a-z]+$", re.IGNORECASE)


def load(changes: Path, issues: Path, cache: Path | None, encoder: bool, sample: int | None):
    if cache and cache.is_file():
        return pickle.loads(cache.read_bytes())
    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    records = (all_records(changes.read_bytes(), str(changes))
               + all_records(issues.read_bytes(), str(issues)))
    if sample:
        random.Random(0).shuffle(records)
        records = records[:sample]
    seen = []

    def analyzer(change, settings):  # keeps each analysis for the text candidates below
        seen.append((change, analyze(change, settings)))
        return seen[-1][1]

    data = train.prepare(records, config, analyzer)
    texts = [features.change_text(change) for change, _ in seen]
    diffs = [" ".join(features._diff_identifiers(features.whole_change(change, analysis)))
             for change, analysis in seen]
    paths = [[f.path for f in change.files] for change, _ in seen]
    out = {"data": data, "texts": texts, "diffs": diffs, "paths": paths}
    if encoder:
        out["embeddings"] = embed(texts)
        out["diff_embeddings"] = embed([diff_text(c, a) for c, a in seen])
    if cache:
        cache.write_bytes(pickle.dumps(out))
    return out


def with_text_features(s) -> list:
    """The cached records with their text embedding and rubric words set (train.Prepared's
    text_e, diff_e and text_k; the cache predates them): the words are read from the cached
    text, its first line as the title."""
    for p, row, text in zip(s["data"], s["embeddings"], s["texts"], strict=True):
        title, _, rest = text.partition("\n")
        p.text_e = p.diff_e = row
        p.text_k = features.rubric_words(ChangeSet(source="cache", title=title, description=rest))
    return s["data"]


def embed(texts: list[str]) -> np.ndarray:
    """MiniLM sentence embeddings from the shipped encoder (models/encoder/)."""
    from cartriage.scoring import encoder
    from cartriage.scoring.cache import model_folder

    return encoder.encode(texts, model_folder(), products=train.EMBEDDED["consequence"][2])


def diff_text(change, analysis, lines: int = 40) -> str:
    """The record's reviewed paths, then its first changed lines (what a unit embedding reads)."""
    scope = features.whole_change(change, analysis)
    out = [file.path for file, _, _ in scope.files[:20]]
    for _, _, hunks in scope.files:
        for hunk in hunks:
            out.extend(line[:160] for line in hunk.lines if line[:1] in "+-" and line[1:].strip())
            if len(out) >= lines:
                return "\n".join(out[:lines])
    return "\n".join(out)


def keyword_rule(texts, paths, view: str) -> np.ndarray:
    """The issue's baseline: auth/migration/payment/security words -> high; only docs/tests/
    styles -> low; else medium."""
    out = np.zeros((len(texts), 3))
    for i, (text, files) in enumerate(zip(texts, paths, strict=True)):
        files = files if view == "diff" else []
        if KEYWORDS_HIGH.search(text) or any(KEYWORDS_HIGH.search(f) for f in files):
            out[i, 2] = 1
        elif files and all(MINOR_PATH.search(f) for f in files):
            out[i, 0] = 1
        else:
            out[i, 1] = 1
    return out


def _lr(C: float, balanced: bool = False):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight="balanced" if balanced else None, max_iter=2000)


def _proba(model, X) -> np.ndarray:
    out = np.zeros((len(X) if isinstance(X, list) else X.shape[0], 3))
    out[:, model.classes_] = model.predict_proba(X)
    return out


def with_minor_units(data, X, y, weights, unit_weight=0.25):
    """The record rows plus each multi-unit record's tests/docs-only units labelled low (the
    rubric: tests only, docs -> low), each at `unit_weight` of a record."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    rows, labels, extra = [X], [y], [w]
    for p, weight in zip(data, w, strict=True):
        if p.units_c.shape[0] > 1 and p.minor.any():
            count = int(p.minor.sum())
            rows.append(p.units_c[p.minor])
            labels.append(np.zeros(count, dtype=int))
            extra.append(np.full(count, weight * unit_weight))
    return np.vstack(rows), np.concatenate(labels), np.concatenate(extra)


class Hashed:
    """The hashed-token logistic regression (features.py); `units` deploys it per unit."""

    def __init__(self, C, balanced=False, units=False):
        self.C, self.balanced, self.units = C, balanced, units

    def rows(self, s, idx, view):
        d = s["data"]
        return np.vstack([d[i].record_c if view == "diff" else d[i].text_c for i in idx])

    def fit(self, s, idx, view, w):
        y = np.array([s["data"][i].consequence for i in idx])
        X = self.rows(s, idx, view)
        if self.units and view == "diff":
            X, y, w = with_minor_units([s["data"][i] for i in idx], X, y, w)
        self.model = _lr(self.C, self.balanced).fit(X, y, sample_weight=w)
        return self

    def predict(self, s, idx, view):
        if not (self.units and view == "diff"):
            return _proba(self.model, self.rows(s, idx, view))
        return np.array([train.deployed(self.model, s["data"][i]) for i in idx])


class Tfidf:
    """Word 1-2-grams and character 3-5-grams of the text (and of paths + diff identifiers)."""

    def __init__(self, C):
        self.C = C

    def docs(self, s, idx, view):
        return [s["texts"][i] + ("\n" + " ".join(s["paths"][i]) + "\n" + s["diffs"][i]
                                 if view == "diff" else "") for i in idx]

    def fit(self, s, idx, view, w):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union

        union = make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50000, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=3,
                            max_features=50000, sublinear_tf=True))
        y = np.array([s["data"][i].consequence for i in idx])
        self.model = make_pipeline(union, _lr(self.C))
        self.model.fit(self.docs(s, idx, view), y, logisticregression__sample_weight=w)
        return self

    def predict(self, s, idx, view):
        return _proba(self.model, self.docs(s, idx, view))


class Trees:
    """Gradient-boosted trees over the numeric analysis, size and role features."""

    def rows(self, s, idx, view):
        n = len(features.CONSEQUENCE_NUMERIC)
        return np.vstack([(s["data"][i].record_c if view == "diff" else s["data"][i].text_c)[:n]
                          for i in idx])

    def fit(self, s, idx, view, w):
        from sklearn.ensemble import HistGradientBoostingClassifier

        y = np.array([s["data"][i].consequence for i in idx])
        self.model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05,
                                                    max_leaf_nodes=15, random_state=0)
        self.model.fit(self.rows(s, idx, view), y, sample_weight=w)
        return self

    def predict(self, s, idx, view):
        return _proba(self.model, self.rows(s, idx, view))


class Encoder(Hashed):
    """MiniLM embedding of the change text (times `scale`), next to the numeric features or all
    the hashed ones (`with_hashed`); `diff` adds the embedding of the paths and changed lines,
    `words` the rubric words of the text (features.rubric_words) times `words`."""

    def __init__(self, C, with_hashed=False, scale=1.0, diff=False, balanced=False, words=0.0):
        super().__init__(C, balanced)
        self.with_hashed, self.scale, self.diff, self.words = with_hashed, scale, diff, words

    def rows(self, s, idx, view):
        parts = [self.scale * s["embeddings"][idx]]
        if self.words:
            parts.append(self.words * np.vstack([s["data"][i].text_k for i in idx]))
        if self.diff and view == "diff":
            parts.append(self.scale * s["diff_embeddings"][idx])
        if self.with_hashed:
            parts.append(super().rows(s, idx, view))
        else:
            n = len(features.CONSEQUENCE_NUMERIC)
            parts.append(np.vstack([(s["data"][i].record_c if view == "diff"
                                     else s["data"][i].text_c)[:n] for i in idx]))
        return np.hstack(parts)


class Averaged:
    """The mean of two candidates' probabilities (stacking without a meta-model)."""

    def __init__(self, *makes):
        self.makes = makes

    def fit(self, s, idx, view, w):
        self.models = [make().fit(s, idx, view, w) for make in self.makes]
        return self

    def predict(self, s, idx, view):
        return np.mean([m.predict(s, idx, view) for m in self.models], axis=0)


def candidates(encoder: bool):
    out = {
        "hashed LR, balanced C=0.1 (today)": lambda: Hashed(0.1, balanced=True),
        "hashed LR C=1": lambda: Hashed(1.0),
        "hashed LR C=1 + tests/docs unit rows": lambda: Hashed(1.0, units=True),
        "tfidf word+char LR C=10": lambda: Tfidf(10.0),
        "gradient-boosted trees": Trees,
    }
    if encoder:
        out.update({
            "MiniLM + numeric LR C=1": lambda: Encoder(1.0),
            "MiniLM + numeric LR C=1 balanced": lambda: Encoder(1.0, balanced=True),
            "MiniLM + numeric LR C=0.3": lambda: Encoder(0.3),
            "MiniLM + numeric + rubric words x0.3, LR C=0.3": lambda: Encoder(0.3, words=0.3),
            "MiniLM + numeric + rubric words x0.5, LR C=0.3": lambda: Encoder(0.3, words=0.5),
            "MiniLM + numeric + rubric words x1, LR C=0.3": lambda: Encoder(0.3, words=1.0),
            "MiniLM + numeric + rubric words x0.3, LR C=1": lambda: Encoder(1.0, words=0.3),
            "MiniLM + hashed LR C=1": lambda: Encoder(1.0, with_hashed=True),
            "MiniLM x2 + hashed LR C=1": lambda: Encoder(1.0, with_hashed=True, scale=2.0),
            "MiniLM x2 + hashed LR C=0.3": lambda: Encoder(0.3, with_hashed=True, scale=2.0),
            "MiniLM text+diff + numeric LR C=1": lambda: Encoder(1.0, diff=True),
            "MiniLM text+diff x2 + hashed LR C=1":
                lambda: Encoder(1.0, with_hashed=True, scale=2.0, diff=True),
            "mean(MiniLM + numeric, hashed LR C=1)":
                lambda: Averaged(lambda: Encoder(1.0), lambda: Hashed(1.0)),
            "mean(MiniLM + numeric, trees)": lambda: Averaged(lambda: Encoder(1.0), Trees),
            "MiniLM + numeric LR C=3": lambda: Encoder(3.0),
            "mean(MiniLM + numeric C=0.3, trees)":
                lambda: Averaged(lambda: Encoder(0.3), Trees),
            "mean(MiniLM + numeric C=0.3, trees, hashed LR C=1)":
                lambda: Averaged(lambda: Encoder(0.3), Trees, lambda: Hashed(1.0)),
            "mean(MiniLM x2 + hashed C=0.3, trees)":
                lambda: Averaged(lambda: Encoder(0.3, with_hashed=True, scale=2.0), Trees),
        })
    return out


def evaluate(s, make, folds):
    """{mode: (probabilities, labels, predictions)} for one candidate."""
    d = s["data"]
    y = np.array([p.consequence for p in d])
    issue = np.array([p.issue for p in d])
    weight = np.array([0.5 if not p.issue else 1.0 for p in d])
    P_diff, P_text = np.zeros((len(d), 3)), np.zeros((len(d), 3))
    for k in range(validation.FOLDS):
        tr, te = np.where(folds != k)[0], np.where(folds == k)[0]
        P_diff[te] = make().fit(s, tr, "diff", None).predict(s, te, "diff")
        te_issue = te[issue[te]]
        P_text[te_issue] = make().fit(s, tr, "text", weight[tr]).predict(s, te_issue, "text")
    out = {}
    for mode, P, rows in (("diff", P_diff, ~issue), ("issue+patch", P_diff, issue),
                          ("issue text", P_text, issue)):
        out[mode] = (P[rows], y[rows], validation.rule_per_fold(P[rows], y[rows], folds[rows]))
    for mode, source, target in (("changes->issues", ~issue, issue),
                                 ("issues->changes", issue, ~issue)):
        rule = validation.choose_rule(P_diff[source], y[source])
        P = make().fit(s, np.where(source)[0], "diff", None).predict(s, np.where(target)[0],
                                                                     "diff")
        out[mode] = (P, y[target], validation.apply(P, rule))
    return out


def row(name, mode, P, y, pred) -> str:
    m = validation.metrics(y, pred, P)
    return (f"| {name} | {mode} | {m['macro_f1']:.3f} | {m['recall_high']:.3f} | "
            f"{m['precision_high']:.3f} | {m['high_predicted_low']}/{m['highs']} | "
            f"{m['brier']:.3f} | {m['ece']:.3f} | {m['confusion']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=Path, required=True)
    parser.add_argument("--issues", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--encoder", action="store_true")
    parser.add_argument("--sample", type=int, default=None,
                        help="a seeded random sample of this many records (both files)")
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread: threads contending on a shared machine are slower
    s = load(args.changes, args.issues, args.cache, args.encoder, args.sample)
    d = with_text_features(s) if args.encoder else s["data"]
    folds = validation.folds([p.repo for p in d])
    y = np.array([p.consequence for p in d])
    issue = np.array([p.issue for p in d])
    print(f"{len(d)} records ({int(issue.sum())} issues), {len({p.repo for p in d})} "
          f"repositories, {validation.FOLDS} grouped folds")
    print("| candidate | mode | macro-F1 | recall high | precision high | high->low | Brier "
          "| ECE | confusion (rows true low/medium/high) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for view, mode, rows in (("diff", "diff", ~issue), ("diff", "issue+patch", issue),
                             ("text", "issue text", issue)):
        P = keyword_rule([s["texts"][i] for i in np.where(rows)[0]],
                         [s["paths"][i] for i in np.where(rows)[0]], view)
        print(row("keyword rule", mode, P, y[rows], P.argmax(axis=1)))
    for name, make in candidates(args.encoder).items():
        if args.only and name not in args.only:
            continue
        cpu, wall = time.process_time(), time.perf_counter()
        for mode, (P, yy, pred) in evaluate(s, make, folds).items():
            print(row(name, mode, P, yy, pred), flush=True)
        print(f"|   ({name}: {time.process_time() - cpu:.0f} s CPU, "
              f"{time.perf_counter() - wall:.0f} s wall) |", flush=True)


if __name__ == "__main__":
    main()
