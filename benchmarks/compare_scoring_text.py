"""Issue-text candidates (the `consequence-issue` model) under the grouped protocol.

    python benchmarks/compare_scoring_text.py --cache /tmp/prepared.pkl \
        [--windows /tmp/windows.npz] [--only NAME ...]

`--cache` is benchmarks/compare_scoring.py's cache (`--encoder --cache`). Every candidate is
trained on the texts of all records of the other folds (issues at weight 1, the changes' PR
texts at 0.5, as `cartriage train`) and scores the held-out issues from their text alone; the
decision rule is chosen on the other folds (nested). `--windows` caches the extra embeddings
(the title alone; the body in 250-token windows), computed with the shipped encoder on first use
(about 2 min CPU). Prints one row per candidate.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
from compare_scoring import _lr, _proba, row, with_text_features

from cartriage.scoring import features, validation


def windows(texts: list[str], path: Path) -> dict[str, np.ndarray]:
    """The title's embedding and the mean of the body's 250-token windows (L2-normalised)."""
    if path.is_file():
        return dict(np.load(path))
    from tokenizers import Tokenizer

    from cartriage.scoring import encoder
    from cartriage.scoring.cache import model_folder

    folder = model_folder()
    tokenizer = Tokenizer.from_file(str(folder / encoder.FOLDER / "tokenizer.json"))
    tokenizer.no_truncation()
    titles, chunks, owner = [], [], []
    for i, text in enumerate(texts):
        title, _, body = text.partition("\n")
        titles.append(title)
        offsets = tokenizer.encode(body, add_special_tokens=False).offsets if body.strip() else []
        for start in range(0, len(offsets), 250):
            part = offsets[start:start + 250]
            chunks.append(body[part[0][0]:part[-1][1]])
            owner.append(i)
    mean = np.zeros((len(texts), encoder.DIMENSION))
    np.add.at(mean, np.array(owner, dtype=int), encoder.encode(chunks, folder))
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    out = {"title": encoder.encode(titles, folder), "body": mean}
    np.savez(path, **out)
    return out


def candidates(s, extra):
    """{name: (make_rows(kind) -> X, C, how)}: `how` is lr, balanced, issues-only or ordinal."""
    d = s["data"]
    n = features.numeric_dimension("consequence")
    base = np.hstack([np.vstack([p.text_c[:n] for p in d]), s["embeddings"]])
    words = np.vstack([p.text_k for p in d])
    out = {
        "embedding + length, LR C=1 (the text model before)": (base, 1.0, "lr"),
        "embedding + length, LR C=0.3": (base, 0.3, "lr"),
        "... balanced": (base, 1.0, "balanced"),
        "... issues only (no PR texts)": (base, 1.0, "issues only"),
        "... ordinal (two binary LRs: >=medium, >=high)": (base, 1.0, "ordinal"),
        "... + rubric words x0.3 (shipped)": (np.hstack([base, 0.3 * words]), 1.0, "lr"),
        "... + rubric words x0.5": (np.hstack([base, 0.5 * words]), 1.0, "lr"),
        "... + rubric words x1": (np.hstack([base, words]), 1.0, "lr"),
        "... + rubric words x0.3, LR C=0.3": (np.hstack([base, 0.3 * words]), 0.3, "lr"),
        "... + rubric words x0.3, ordinal": (np.hstack([base, 0.3 * words]), 1.0, "ordinal"),
    }
    if extra:
        out.update({
            "... + title embedding": (np.hstack([base, extra["title"]]), 1.0, "lr"),
            "... + body windows (mean)": (np.hstack([base, extra["body"]]), 1.0, "lr"),
            "... + title + body windows, LR C=0.3":
                (np.hstack([base, extra["title"], extra["body"]]), 0.3, "lr"),
            "title + body windows + length (no whole-text embedding)":
                (np.hstack([base[:, :n], extra["title"], extra["body"]]), 1.0, "lr"),
        })
    return out


def fit_predict(X, y, w, train, test, C, how) -> np.ndarray:
    if how == "ordinal":
        at_least = [_lr(C).fit(X[train], (y[train] >= k).astype(int), sample_weight=w[train])
                    .predict_proba(X[test])[:, 1] for k in (1, 2)]
        medium, high = at_least[0], np.minimum(*at_least)
        return np.stack([1 - medium, medium - high, high], axis=1)
    if how == "issues only":
        train = train[w[train] == 1.0]
    model = _lr(C, balanced=how == "balanced").fit(X[train], y[train], sample_weight=w[train])
    return _proba(model, X[test])


def tfidf(s, y, w, train, test) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union

    texts = s["texts"]
    union = make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50000, sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=3, max_features=50000,
                        sublinear_tf=True))
    model = make_pipeline(union, _lr(10.0))
    model.fit([texts[i] for i in train], y[train], logisticregression__sample_weight=w[train])
    return _proba(model, [texts[i] for i in test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--windows", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    s = pickle.loads(args.cache.read_bytes())
    d = with_text_features(s)
    y = np.array([p.consequence for p in d])
    issue = np.array([p.issue for p in d])
    w = np.where(issue, 1.0, 0.5)
    fold = validation.folds([p.repo for p in d])
    extra = windows(s["texts"], args.windows) if args.windows else None
    made = {name: (lambda tr, te, c=c: fit_predict(c[0], y, w, tr, te, c[1], c[2]))
            for name, c in candidates(s, extra).items()}
    made["TF-IDF word 1-2 + char 3-5 grams, LR C=10"] = lambda tr, te: tfidf(s, y, w, tr, te)
    oof = {}
    print("| candidate | mode | macro-F1 | recall high | precision high | high->low | Brier "
          "| ECE | confusion (rows true low/medium/high) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, fit in made.items():
        if args.only and name not in args.only:
            continue
        P = np.zeros((len(d), 3))
        for k in range(validation.FOLDS):
            test = np.where((fold == k) & issue)[0]
            P[test] = fit(np.where(fold != k)[0], test)
        oof[name] = P
        print(row(name, "issue text", P[issue], y[issue],
                  validation.rule_per_fold(P[issue], y[issue], fold[issue])), flush=True)
    mean = [n for n in ("embedding + length, LR C=1 (the text model before)",
                        "TF-IDF word 1-2 + char 3-5 grams, LR C=10") if n in oof]
    if len(mean) == 2:
        P = (oof[mean[0]] + oof[mean[1]]) / 2
        print(row("mean(embedding LR, TF-IDF LR)", "issue text", P[issue], y[issue],
                  validation.rule_per_fold(P[issue], y[issue], fold[issue])))


if __name__ == "__main__":
    main()
