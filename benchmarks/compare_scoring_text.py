"""Issue-text candidates (the `consequence-issue` model) under the grouped protocol.

    python benchmarks/compare_scoring_text.py --cache /tmp/prepared.pkl \
        [--windows /tmp/windows.npz] [--only NAME ...]
    python benchmarks/compare_scoring_text.py --cache /tmp/prepared.pkl --similar \
        [--cleaned /tmp/cleaned.npy]

`--cache` is benchmarks/compare_scoring.py's cache (`--encoder --cache`). Every candidate is
trained on the texts of all records of the other folds (issues at weight 1, the changes' PR
texts at 0.5, as `cartriage train`) and scores the held-out issues from their text alone; the
decision rule is chosen on the other folds (nested). `--windows` caches the extra embeddings
(the title alone; the body in 250-token windows), computed with the shipped encoder on first use
(about 2 min CPU). Prints one row per candidate.
`--similar` runs the shipped recipe instead (embedding + length + rubric words + similar
issues) and the sixth session's variants of it: decision rules, similarity weights, averages,
PR-text weights, the text cleaned before embedding (`--cleaned` caches those embeddings, about
500 texts encoded on first use), a two-stage rule (about 2 min CPU without the encoding).
"""

from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path

import numpy as np
from ceiling_text import Data, best_unguarded, held_out, neighbours_alone, shipped_family
from compare_scoring import _lr, _proba, row, with_text_features

from cartriage.intake.change import ChangeSet
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


def cleaned(text: str, code: bool) -> str:
    """The text without HTML comments (issue templates), link targets, and with `code` its
    fenced code blocks; runs of blanks collapsed."""
    text = re.sub(r"<!--.*?(?:-->|$)", " ", text, flags=re.S)
    if code:
        text = re.sub(r"```.*?(?:```|$)", " ", text, flags=re.S)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"https?://\S+", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def cleaned_embeddings(data: Data, code: bool, path: Path | None) -> np.ndarray:
    """data.emb with the texts that cleaning changes re-embedded (float graph, as shipped)."""
    where = None if path is None else path.with_suffix(f".code{int(code)}.npy")
    if where is not None and where.is_file():
        return np.load(where)
    from cartriage.scoring import encoder
    from cartriage.scoring.cache import model_folder

    out = data.emb.copy()
    changed = [i for i, t in enumerate(data.texts)
               if cleaned(t, code) != re.sub(r"[ \t]+", " ", t).strip()]
    out[changed] = encoder.encode([cleaned(data.texts[i], code) for i in changed],
                                  model_folder(), products="float")
    if where is not None:
        np.save(where, out)
    return out


def nested_by(P, y, fold, choose, apply) -> np.ndarray:
    """Predictions where each held-out fold's rule is `choose`n on the other folds."""
    pred = np.zeros_like(y)
    for k in np.unique(fold):
        held = fold == k
        pred[held] = apply(P[held], choose(P[~held], y[~held]))
    return pred


def _threshold(P, y, scores=None):
    """(t, w_high): low when scores (default p(low)) >= t, else argmax(p_med, w_high p_high);
    the best macro-F1 within the 1-in-200 guard."""
    scores = P[:, 0] if scores is None else scores
    allowed = int(np.sum(y == validation.HIGH)) // validation.HIGH_LOW_RATE
    best, best_key = None, None
    for t in np.unique(np.quantile(scores, np.linspace(0.5, 1.0, 51))):
        for w_high in validation._GRID:
            pred = _by_threshold(P, (t, w_high), scores)
            misses = int(np.sum((pred == 0) & (y == validation.HIGH)))
            key = (-max(misses - allowed, 0), round(validation.macro_f1(y, pred), 9),
                   -abs(np.log(w_high)))
            if best_key is None or key > best_key:
                best, best_key = (t, w_high), key
    return best


def _by_threshold(P, rule, scores=None):
    t, w_high = rule
    scores = P[:, 0] if scores is None else scores
    return np.where(scores >= t, 0, 1 + (w_high * P[:, 2] > P[:, 1]))


# More of RUBRIC.md's low tier as word groups (the shipped features.RUBRIC_WORDS has typo,
# docs, test, translation, style and message): refactors, examples, formatting, tooling.
MORE_LOW_WORDS = {
    "refactor": r"refactor|clean ?up|\brenam",
    "example": r"\bexamples?\b|\bsamples?\b|\bdemo\b",
    "cosmetic": r"cosmetic|formatting|indent|whitespace|\blint",
    "tooling": r"tooling|\bscripts?\b|\bdev(eloper)? tools?\b",
}


def more_low_words(texts: list[str]) -> np.ndarray:
    """MORE_LOW_WORDS found in each text, then in its title (its first line), as 0/1."""
    patterns = [re.compile(p, re.IGNORECASE) for p in MORE_LOW_WORDS.values()]
    return np.array([[bool(p.search(t)) for p in patterns]
                     + [bool(p.search(t.partition("\n")[0])) for p in patterns]
                     for t in texts], dtype=np.float32)


def more_words_neighbourhood(data: Data) -> None:
    """The shipped recipe with and without MORE_LOW_WORDS (at the rubric words' scale) at the
    shipped setting and its neighbours: is a gain more than the nested rule's noise?"""
    keep = data.issue
    y, fold = data.y[keep], data.fold[keep]
    more = more_low_words(data.texts)
    print("\n| setting | without | with the 4 more low-side groups | high->low (with) |")
    print("|---|---|---|---|")
    for C, k, scale in ((1.0, 20, 0.3), (1.0, 10, 0.3), (1.0, 15, 0.3), (1.0, 25, 0.3),
                        (1.0, 30, 0.3), (0.3, 20, 0.3), (3.0, 20, 0.3), (1.0, 20, 0.5),
                        (1.0, 20, 1.0), (1.0, 0, 0.3)):
        got = []
        for extra in (None, scale * more):
            P = held_out(data, shipped_family(data, C, k, scale, extra))[keep]
            got.append(validation.rule_per_fold(P, y, fold))
        print(f"| C={C:g}, k={k}, words x{scale:g} | {validation.macro_f1(y, got[0]):.3f} | "
              f"{validation.macro_f1(y, got[1]):.3f} | "
              f"{int(np.sum((got[1] == 0) & (y == validation.HIGH)))}/218 |", flush=True)


def similar_candidates(data: Data, cleaned_path: Path | None):
    """{name: (P over all records, held-out issues' predictions or None for the nested
    rule)}: the shipped recipe and the sixth session's variants."""
    keep = data.issue
    y, fold = data.y[keep], data.fold[keep]
    shipped = held_out(data, shipped_family(data))
    out = {"shipped (embedding + length + rubric words x0.3 + similar issues k=20, C=1)":
           (shipped, None),
           "... rule without the high->low guard": (shipped, nested_by(
               shipped[keep], y, fold, best_unguarded, validation.apply)),
           "... low when p(low) >= t, else medium/high by w_high (guard)": (shipped, nested_by(
               shipped[keep], y, fold, _threshold, _by_threshold))}
    adjusted = shipped.copy()
    for k in range(validation.FOLDS):
        trn, held = data.fold != k, data.fold == k
        issues = np.bincount(data.y[trn & keep], minlength=3) / np.sum(trn & keep)
        weighted = np.bincount(data.y[trn], weights=data.w[trn], minlength=3) / data.w[trn].sum()
        adjusted[held] = shipped[held] * issues / weighted
        adjusted[held] /= np.maximum(adjusted[held].sum(axis=1, keepdims=True), 1e-12)
    out["... probabilities moved to the issues' tier shares (prior shift per fold)"] = (
        adjusted, None)
    plain = Data.shares
    for power in (2.0, 4.0, 8.0):
        Data.shares = (lambda self, rows, pool, k, _p=1.0, power=power:
                       plain(self, rows, pool, k, power))
        out[f"... similar issues weighted by similarity^{power:g}"] = (
            held_out(data, shipped_family(data)), None)
    Data.shares = plain

    def multi(trn, test):
        def X(rows):
            return np.hstack([data.inputs(rows, trn), data.shares(rows, trn, 5),
                              data.shares(rows, trn, 80)])
        model = _lr(1.0).fit(X(trn), data.y[trn], sample_weight=data.w[trn])
        return _proba(model, X(test))
    out["... similar issues at k=5, 20 and 80 (9 shares)"] = (held_out(data, multi), None)
    out["... + 4 more low-side rubric groups (refactor, example, cosmetic, tooling) x0.3"] = (
        held_out(data, shipped_family(data, extra=0.3 * more_low_words(data.texts))), None)
    for k, low_only in ((20, True), (20, False), (50, True)):
        def with_changes(trn, test, k=k, low_only=low_only):
            def X(rows):
                pool = trn[~data.issue[trn]]
                found = features.neighbour_shares(
                    data.emb[rows], data.emb[pool], data.y[pool], k,
                    data.repo[rows][:, None] == data.repo[pool][None, :])
                return np.hstack([data.inputs(rows, trn), found[:, :1] if low_only else found])
            model = _lr(1.0).fit(X(trn), data.y[trn], sample_weight=data.w[trn])
            return _proba(model, X(test))
        out[f"... + the {k} most similar changes' (PR texts) "
            f"{'low share' if low_only else 'tier shares'}"] = (held_out(data, with_changes), None)
    out["mean(shipped, the similar issues' shares alone k=20)"] = (
        (shipped + held_out(data, neighbours_alone(data, 20))) / 2, None)
    out["mean of C=0.3, 1, 3"] = ((shipped + sum(
        held_out(data, shipped_family(data, C=C)) for C in (0.3, 3.0))) / 3, None)
    out["mean of k=10, 20, 40"] = ((shipped + sum(
        held_out(data, shipped_family(data, k=k)) for k in (10, 40))) / 3, None)
    weights = data.w
    for weight in (0.25, 1.0, 1e-9):
        data.w = np.where(data.issue, 1.0, weight)
        name = f"weight {weight:g}" if weight >= 0.01 else "weight ~0 (issues only)"
        out[f"... PR texts at {name}"] = (held_out(data, shipped_family(data)), None)
    data.w = weights
    embeddings, words = data.emb, data.words
    for code in (False, True):
        data.emb = cleaned_embeddings(data, code, cleaned_path)
        what = "HTML comments, links" + (", code blocks" if code else "")
        out[f"... text cleaned before embedding ({what})"] = (
            held_out(data, shipped_family(data)), None)
        data.words = np.vstack([features.rubric_words(ChangeSet(
            source="cache", title=t.partition("\n")[0], description=t.partition("\n")[2]))
            for t in (cleaned(t, code) for t in data.texts)])
        out[f"... and the rubric words read on it ({what})"] = (
            held_out(data, shipped_family(data)), None)
        data.emb, data.words = embeddings, words
    for balanced in (False, True):
        def low(trn, test, balanced=balanced):
            model = _lr(1.0, balanced).fit(data.inputs(trn, trn), data.y[trn] == 0,
                                           sample_weight=data.w[trn])
            return np.repeat(model.predict_proba(data.inputs(test, trn))[:, 1:], 3, axis=1)
        scores = held_out(data, low)[keep][:, 0]
        pred = np.zeros_like(y)
        for k in range(validation.FOLDS):
            held = fold == k
            rule = _threshold(shipped[keep][~held], y[~held], scores[~held])
            pred[held] = _by_threshold(shipped[keep][held], rule, scores[held])
        out[f"two-stage: a low-vs-not LR{', balanced' if balanced else ''} over a threshold, "
            "else medium/high by w_high (guard)"] = (shipped, pred)
    return out


def similar(cache: Path, cleaned_path: Path | None) -> None:
    data = Data(cache)
    keep = data.issue
    y, fold = data.y[keep], data.fold[keep]
    print("| candidate (issue text alone) | macro-F1 | per held-out fold | high->low | lows "
          "found | Brier | ECE | confusion (rows true low/medium/high) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (P, pred) in similar_candidates(data, cleaned_path).items():
        pred = validation.rule_per_fold(P[keep], y, fold) if pred is None else pred
        m = validation.metrics(y, pred, P[keep])
        print(f"| {name} | {m['macro_f1']:.3f} | "
              f"{', '.join(f'{f:.3f}' for f in validation.per_fold(y, pred, fold))} | "
              f"{m['high_predicted_low']}/{m['highs']} | {m['confusion'][0][0]}/"
              f"{sum(m['confusion'][0])} | {m['brier']:.3f} | {m['ece']:.3f} | "
              f"{m['confusion']} |", flush=True)
    more_words_neighbourhood(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--windows", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    parser.add_argument("--similar", action="store_true",
                        help="the shipped recipe (with similar issues) and its variants")
    parser.add_argument("--cleaned", type=Path, default=None,
                        help="with --similar: cache of the cleaned texts' embeddings")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if args.similar:
        similar(args.cache, args.cleaned)
        return
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
