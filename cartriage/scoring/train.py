"""Training: fit the scoring models on labelled records, validate on grouped folds, export.

The only module that imports scikit-learn and skl2onnx (the `train` extra). Three models, each a
multinomial logistic regression over the shared feature function (features.py) and, for the
consequence models, the sentence embedding of the change's text (encoder.py, ENCODED):
- `consequence`: a review unit with its diff, trained on the records of both files (changes and
  issues with their patches);
- `consequence-issue`: text alone, trained on the issues' texts (the changes' PR texts added at
  a lower weight, TEXT_WEIGHT_CHANGES);
- `difficulty`: change-risk features, against the separate difficulty labels.
Validation (validation.py) holds out whole repositories in 5 folds and scores a held-out record
as deployed (per unit, tests/docs-only units never high, then the riskiest-unit envelope).
Each model's decision rule is chosen on
the pooled out-of-fold predictions; the nested figures choose it without the held-out fold.
benchmarks/compare_scoring.py compares this model with the other candidates.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cartriage.errors import CartriageError, InputError
from cartriage.scoring import decision, encoder, features, repo_facts, validation
from cartriage.scoring.cache import model_folder
from cartriage.scoring.records import RecordError, all_records, to_change
from cartriage.scoring.scores import DEFECT_RATES, TIERS

try:
    import onnx
    import skl2onnx
    import sklearn
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise CartriageError(
        f"training needs the train extra ({exc.name} is missing): pip install -e .[train]"
    ) from None

SEED = 20240611
# Chosen on the grouped folds (benchmarks/compare_scoring.py, then this module's deployed
# validation; docs/scoring.md): each consequence model reads the sentence embedding of the
# change's text next to the numeric features only. With the hashed tokens as well the diff
# model scored 0.571-0.609 macro-F1 deployed against 0.617 without them.
C = {"consequence": 0.3, "consequence-issue": 1.0, "difficulty": 1.0}
# Models fitted with balanced class weights (none: balancing lowered issue-text macro-F1 from
# 0.427 to 0.396 with the embedding).
BALANCED: set[str] = set()
# Weight of a change's PR text in the text model's training (issue texts weigh 1).
TEXT_WEIGHT_CHANGES = 0.5
# Models that read the sentence embedding of the change's text (encoder.py), and the factor it
# is multiplied by next to the features (the embedding has norm 1).
ENCODED = {"consequence": 1.0, "consequence-issue": 1.0}
# What each of them embeds (features.embedded_text: "text" or "title"), where it is cut, in
# tokens (encoder.encode's max_tokens), and by which graph (encoder.PRODUCTS); the card's
# `encoder` entry records all three for run time. The diff model reads the integer graph's
# embeddings (2-4x faster a pass; with a diff, units in their change, 0.655 macro-F1 against
# 0.662 on the float's, high predicted low 3/532 both), the issue-text model the float graph's
# (0.512 against 0.493 on the integer's): an issue-only plan runs one pass, every plan with a
# diff runs one too.
# Cheaper texts for the diff model were measured as deployed (docs/scoring.md, "A cheaper text
# for the diff model"): the title alone 0.639 macro-F1 with a diff, 64 tokens 0.637, 128 tokens
# 0.641, against 0.646 for the whole text cut at 256 tokens.
EMBEDDED = {"consequence": ("text", encoder.MAX_TOKENS, "integer"),
            "consequence-issue": ("text", encoder.MAX_TOKENS, "float")}
# Models that read the rubric words of the change's text and title (features.rubric_words), and
# their factor (0.3 beat 0.5 and 1 on the grouped folds; docs/scoring.md). Issue text only: the
# diff model with them scored 0.641 macro-F1 deployed against 0.646 without (2/532 and 3/532
# high->low), 0.419 against 0.426 for issues with their patch.
RUBRIC_WORDS = {"consequence-issue": 0.3}
# Models that read the tiers of the training issues most similar to the text (cosine of the
# embeddings; features.neighbour_shares) and how many: the text model, k=20 (chosen on the
# grouped folds: k=10-40 picked per fold on the other folds gave 0.503 macro-F1 from issue text
# against 0.468 without; docs/scoring.md, "Similar issues"). Its training rows see only other
# repositories' issues, as a text from an unseen repository does.
NEIGHBOURS = {"consequence-issue": 20}
# Models that read only the numeric features besides the embedding, not the hashed tokens.
NUMERIC_ONLY = {"consequence", "consequence-issue"}
# Models that score a unit on its features pulled toward its whole change's, and how far
# (features.with_change: (1 - share) * unit + share * change); tests/docs-only units keep their
# own. The diff model is trained on whole records and deployed per unit: with half of each
# unit's row from its change, 0.662 macro-F1 with a diff as deployed against 0.646 (0.651 and
# 0.667 with shares 0.25 and 0.75, 0.621 with the change alone), Brier 0.418 against 0.464, the
# same 3/532 high->low (docs/scoring.md, "A unit in its change").
CHANGE_SHARE = {"consequence": 0.5}


@dataclass
class Prepared:
    """One labelled record, featurised for every model.

    `units_c` are the record's review units as deployed (diff-only analysis); `minor` marks the
    units whose files are all tests or docs (low by the rubric, whatever the change around them);
    `units_c_facts` the same units with the record's stored repository facts, where it has them;
    `text_e` the sentence embedding of the record's text as the text model reads it (EMBEDDED),
    `diff_e` as the diff model reads it (the same array when both read the same);
    `text_k` its rubric words (features.rubric_words).
    """

    id: str
    repo: str
    issue: bool  # from an issues file: `title`/`message` are an issue, not a PR description
    consequence: int
    difficulty: int
    record_c: np.ndarray
    record_d: np.ndarray
    text_c: np.ndarray
    units_c: np.ndarray
    minor: np.ndarray
    text_e: np.ndarray
    text_k: np.ndarray
    units_c_facts: np.ndarray | None = None
    diff_e: np.ndarray | None = None


def is_issue(record: dict[str, Any]) -> bool:
    """Issue records (SCHEMA.md) carry no commit `sha`; changes always do."""
    return not record.get("sha")


def prepare(records: list[dict[str, Any]], config, analyzer: Callable,
            facts: dict[str, dict] | None = None, folder: Path | None = None) -> list[Prepared]:
    """Featurise labelled records from diff-only analysis (and, for the validation's
    with-repository-facts condition, the stored facts where a record has them); their texts
    are embedded with the encoder in `folder` (default: the model folder)."""
    out, changes = [], []
    for record in records:
        labels = record.get("labels") or {}
        try:
            change = to_change(record, config)
        except RecordError as exc:
            raise InputError(f"training record unusable: {exc}") from None
        if labels.get("consequence") not in TIERS or labels.get("difficulty") not in TIERS:
            raise InputError(f"{record.get('id')}: labels.consequence/difficulty missing")
        text = features.read_text(change)
        analysis = analyzer(change, config)
        whole = features.whole_change(change, analysis)
        scoped = [scope for _, scope in features.scopes(change, analysis)]
        known = (facts or {}).get(record["id"])
        changes.append(change)
        out.append(Prepared(
            id=record["id"], repo=str(record.get("repo") or record["id"].split("@")[0]),
            issue=is_issue(record),
            consequence=TIERS.index(labels["consequence"]),
            difficulty=TIERS.index(labels["difficulty"]),
            record_c=features.consequence_features(text, whole).vector,
            record_d=features.difficulty_features(text, whole).vector,
            text_c=features.consequence_features(text, None).vector,
            units_c=_unit_rows(text, scoped),
            minor=np.array([features.minor(s) for s in scoped], dtype=bool),
            text_e=np.zeros(0, dtype=np.float32),
            text_k=features.rubric_words(change),
            units_c_facts=None if known is None else _unit_rows(text, [
                s for _, s in features.scopes(change, repo_facts.apply(analysis, known))]),
        ))
    vectors = {spec: encoder.encode([features.embedded_text(c, spec[0]) for c in changes],
                                    folder or model_folder(), max_tokens=spec[1],
                                    products=spec[2])
               for spec in sorted({EMBEDDED[name] for name in ENCODED})}
    empty = np.zeros((len(out), 0), dtype=np.float32)
    for i, p in enumerate(out):
        p.text_e, p.diff_e = (vectors.get(EMBEDDED.get(name), empty)[i]
                              for name in ("consequence-issue", "consequence"))
    return out


def inputs(name: str, vectors: np.ndarray, embedding: np.ndarray,
           words: np.ndarray, shares: np.ndarray | None = None) -> np.ndarray:
    """Model `name`'s input rows, as model.Model.rows builds them at run time: the feature
    vectors (numeric part only for NUMERIC_ONLY), then the scaled text embedding (ENCODED),
    then the scaled rubric words (RUBRIC_WORDS), then the similar issues' tier shares
    (NEIGHBOURS: `shares`). `embedding`, `words` and `shares` are one row for all vectors (a
    record's units) or one row per vector."""
    if name in NUMERIC_ONLY:
        kind = "difficulty" if name == "difficulty" else "consequence"
        vectors = vectors[:, :features.numeric_dimension(kind)]
    parts = [vectors]
    for scales, values in ((ENCODED, embedding), (RUBRIC_WORDS, words),
                           ({name: 1.0} if name in NEIGHBOURS else {}, shares)):
        if name in scales:
            scaled = np.float32(scales[name]) * values.astype(np.float32)
            parts.append(np.broadcast_to(scaled, (vectors.shape[0], scaled.shape[-1]))
                         if scaled.ndim == 1 else scaled)
    return np.hstack(parts)


def _unit_rows(text, scoped) -> np.ndarray:
    rows = [features.consequence_features(text, s).vector for s in scoped]
    return np.vstack(rows) if rows else np.zeros((0, features.dimension("consequence")),
                                                 dtype=np.float32)


def in_change(p: Prepared, units: np.ndarray) -> np.ndarray:
    """The diff model's rows of a record's units (`units`, aligned with `p.minor`) as `score`
    builds them: each pulled toward the record's whole change by CHANGE_SHARE
    (features.with_change), but a tests/docs-only unit, decided on its own, keeps its own."""
    share = CHANGE_SHARE.get("consequence", 0.0)
    if not share:
        return units
    return np.where(p.minor[:, None], units, features.pulled(units, p.record_c[None, :], share))


def deployed(model, p: Prepared, units: np.ndarray | None = None) -> np.ndarray:
    """A record's consequence as `score` computes it: the riskiest-unit envelope (each unit in
    its change: in_change), its tests/docs-only units never high (decision.minor_unit)."""
    units = p.units_c if units is None else units
    if not units.shape[0]:
        return _proba(model, inputs("consequence", p.record_c[None, :], p.diff_e, p.text_k))[0]
    rows = _proba(model, inputs("consequence", in_change(p, units), p.diff_e, p.text_k))
    for i in np.flatnonzero(p.minor):
        rows[i] = decision.minor_unit(rows[i])
    return np.array(decision.envelope(rows))


def fit(name: str, X: np.ndarray, y: np.ndarray,
        weights: np.ndarray | None = None) -> LogisticRegression:
    model = LogisticRegression(C=C[name], class_weight="balanced" if name in BALANCED else None,
                               solver="lbfgs", max_iter=2000, random_state=SEED)
    model.fit(X, y, sample_weight=weights)
    return model


def _proba(model, X: np.ndarray) -> np.ndarray:
    """Probabilities in tier order even when a fold lacks a class."""
    out = np.zeros((X.shape[0], 3))
    out[:, model.classes_] = model.predict_proba(X)
    return out


def out_of_fold(data: list[Prepared]) -> dict[str, np.ndarray]:
    """Grouped out-of-fold probabilities per record for each model, as deployed.

    `consequence-diff` scores a held-out record per unit from its diff alone, `consequence`
    the same with the record's repository facts where it has them; `issue` is the text model.
    `minor` holds the held-out tests/docs-only units of records with other units too, as
    (record's consequence label, unit probabilities) rows: the rubric calls them low.
    """
    fold = validation.folds([p.repo for p in data])
    oof = {name: np.zeros((len(data), 3))
           for name in ("consequence", "consequence-diff", "issue", "difficulty")}
    minor: list[tuple[float, ...]] = []
    for k in range(validation.FOLDS):
        train = [p for p, f in zip(data, fold, strict=True) if f != k]
        test = np.where(fold == k)[0]
        if not len(test):
            continue
        mc, mi, md = fit_all(train)
        for i in test:
            p = data[i]
            if p.units_c.shape[0] > 1 and p.minor.any():
                units = _proba(mc, inputs("consequence", p.units_c[p.minor], p.diff_e,
                                          p.text_k))
                minor.extend((p.consequence, *row) for row in units)
            oof["consequence-diff"][i] = deployed(mc, p)
            oof["consequence"][i] = (oof["consequence-diff"][i] if p.units_c_facts is None
                                     else deployed(mc, p, p.units_c_facts))
            oof["issue"][i] = _proba(mi, inputs("consequence-issue", p.text_c[None, :],
                                                p.text_e, p.text_k,
                                                shares("consequence-issue", [p], train)))[0]
            oof["difficulty"][i] = _proba(md, inputs("difficulty", p.record_d[None, :],
                                                     p.text_e, p.text_k))[0]
    oof["fold"] = fold
    oof["minor"] = np.array(minor).reshape(-1, 4)
    return oof


def fit_all(data: list[Prepared]) -> tuple[Any, Any, Any]:
    """The consequence, text (issue) and difficulty models fitted on `data`."""
    return (fit_consequence(data), fit("consequence-issue", *text_rows(data)),
            fit("difficulty", rows("difficulty", data), np.array([p.difficulty for p in data])))


# The training rows of each model: which Prepared fields hold its feature vectors and the
# embedding it reads.
FIELD = {"consequence": "record_c", "consequence-issue": "text_c", "difficulty": "record_d"}
EMBEDDING_FIELD = {"consequence": "diff_e", "consequence-issue": "text_e", "difficulty": "text_e"}


def rows(name: str, data: list[Prepared]) -> np.ndarray:
    """Model `name`'s training rows (inputs); each record's similar issues from the other
    repositories (NEIGHBOURS)."""
    return inputs(name, np.vstack([getattr(p, FIELD[name]) for p in data]),
                  np.vstack([getattr(p, EMBEDDING_FIELD[name]) for p in data]),
                  np.vstack([p.text_k for p in data]), shares(name, data, data, own=False))


def pool(data: list[Prepared]) -> list[Prepared]:
    """The records a text model finds similar issues among: the issues."""
    return [p for p in data if p.issue]


def shares(name: str, records: list[Prepared], training: list[Prepared],
           own: bool = True) -> np.ndarray | None:
    """The similar issues' tier shares of `records`' texts among `training`'s issues (None
    when model `name` reads none); `own=False` leaves out a record's own repository."""
    if name not in NEIGHBOURS:
        return None
    found = pool(training)
    exclude = None if own else np.array([[p.repo == q.repo for q in found] for p in records])
    return features.neighbour_shares(np.vstack([p.text_e for p in records]),
                                     np.vstack([q.text_e for q in found]),
                                     np.array([q.consequence for q in found]),
                                     NEIGHBOURS[name], exclude)


def fit_consequence(data: list[Prepared]) -> LogisticRegression:
    """Trained on whole records; deployed per unit (deployed)."""
    return fit("consequence", rows("consequence", data), np.array([p.consequence for p in data]))


def text_rows(data: list[Prepared]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, weights) of the text model: issue texts, and PR texts at TEXT_WEIGHT_CHANGES."""
    return (rows("consequence-issue", data), np.array([p.consequence for p in data]),
            np.array([1.0 if p.issue else TEXT_WEIGHT_CHANGES for p in data]))


# Reported modes: (report key, out-of-fold key, records, label).
MODES = (
    ("diff", "consequence-diff", "changes", "consequence"),
    ("diff, with repository facts", "consequence", "changes with facts", "consequence"),
    ("issue with its patch", "consequence-diff", "issues", "consequence"),
    ("issue text", "issue", "issues", "consequence"),
    ("difficulty, changes", "difficulty", "changes", "difficulty"),
    ("difficulty, issues", "difficulty", "issues", "difficulty"),
)


def _subset(data: list[Prepared], which: str) -> np.ndarray:
    return np.array([{"changes": not p.issue, "issues": p.issue,
                      "changes with facts": not p.issue and p.units_c_facts is not None}[which]
                     for p in data])


def validate(data: list[Prepared]) -> dict[str, Any]:
    """The grouped validation report; each model's rule is chosen on its pooled predictions."""
    oof = out_of_fold(data)
    fold = oof["fold"]
    y = {label: np.array([getattr(p, label) for p in data])
         for label in ("consequence", "difficulty")}
    issues = _subset(data, "issues")
    only = minor_only(data)
    # The rule of each shipped model, from the records it serves; the consequence model's
    # weight for tests/docs-only units from the records made only of such units.
    rules = {"consequence": validation.choose_minor(
                 oof["consequence-diff"], y["consequence"], only,
                 validation.choose_rule(oof["consequence-diff"], y["consequence"])),
             "consequence-issue": validation.choose_rule(oof["issue"][issues],
                                                         y["consequence"][issues]),
             "difficulty": validation.choose_rule(oof["difficulty"], y["difficulty"])}
    uses = {"consequence-diff": "consequence", "consequence": "consequence",
            "issue": "consequence-issue", "difficulty": "difficulty"}
    report: dict[str, Any] = {
        "records": len(data), "issues": int(issues.sum()),
        "repositories": sorted({p.repo for p in data}), "folds": validation.FOLDS,
        "records_with_repo_facts": sum(p.units_c_facts is not None for p in data),
        "rules": {name: rule.to_dict() for name, rule in rules.items()}, "modes": {},
    }
    for name, key, which, label in MODES:
        subset = _subset(data, which)
        if not subset.any():
            continue
        P, yy = oof[key][subset], y[label][subset]
        flags = only[subset] if uses[key] == "consequence" else None
        nested = validation.rule_per_fold(P, yy, fold[subset], flags)
        report["modes"][name] = {
            "shipped rule": validation.metrics(yy, validation.apply(P, rules[uses[key]], flags),
                                               P),
            "nested rule": {**validation.metrics(yy, nested, P),
                            "macro_f1_per_fold": validation.per_fold(yy, nested,
                                                                     fold[subset])},
            "argmax": validation.metrics(yy, P.argmax(axis=1), P),
        }
    report["modes"].update(_across_files(data, y["consequence"], oof, only))
    report["tests/docs units"] = _minor_units(oof["minor"], rules["consequence"])
    return report


def minor_only(data: list[Prepared]) -> np.ndarray:
    """Records whose review units are all tests/docs-only (their tier is such a unit's)."""
    return np.array([p.units_c.shape[0] > 0 and bool(p.minor.all()) for p in data])


def _minor_units(rows: np.ndarray, rule: decision.Rule) -> dict[str, Any]:
    """How the tests/docs-only units of mixed records (the rubric: low) are decided, overall
    and inside high records: by the model alone with the ordinary rule (before
    decision.minor_unit), and as deployed. No unit labels exist: this is what the unit
    decision is checked on."""
    high = rows[:, 0] == validation.HIGH
    out = {}
    for how, flags in (("model alone", None), ("deployed", np.ones(len(rows), dtype=bool))):
        tiers = validation.apply(rows[:, 1:], rule, flags)
        out[how] = {which: {"units": int(subset.sum()),
                            **{f"predicted {t}": int(np.sum(tiers[subset] == k))
                               for k, t in enumerate(TIERS)}}
                    for which, subset in (("all", np.ones(len(rows), dtype=bool)),
                                          ("in high records", high))}
    return out


def _across_files(data, y, oof, only) -> dict[str, Any]:
    """Trained on changes only and tested on issues with their patches, and the reverse."""
    issues = _subset(data, "issues")
    out = {}
    if issues.all() or not issues.any():
        return out
    for name, source in (("changes -> issues with patch", ~issues),
                         ("issues -> changes", issues)):
        model = fit_consequence([p for p, s in zip(data, source, strict=True) if s])
        target = np.where(~source)[0]
        P = np.array([deployed(model, data[i]) for i in target])
        own = validation.choose_minor(
            oof["consequence-diff"][source], y[source], only[source],
            validation.choose_rule(oof["consequence-diff"][source], y[source]))
        out[name] = {"rule from the training file": validation.metrics(
            y[target], validation.apply(P, own, only[target]), P),
            "argmax": validation.metrics(y[target], P.argmax(axis=1), P)}
    return out


def export(model, dim: int, path: Path) -> bytes:
    onx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, dim]))],
                          options={id(model): {"zipmap": False}}, target_opset=17,
                          name=path.stem)  # a fixed graph name (default: a random uuid)
    data = onx.SerializeToString()
    path.write_bytes(data)
    return data


def train(data_paths: list[Path], out: Path, config, analyzer: Callable | None = None,
          log: Callable[[str], None] = print, facts_path: Path | None = None) -> dict[str, Any]:
    """Validate, fit on everything, export the three models and their cards; return the report.

    `data_paths`: labelled record files (changes and issues, SCHEMA.md); `facts_path`: the
    records' repository facts (repo_facts.py) for the validation's with-facts mode, or None.
    """
    raws = [(path, _read(path)) for path in data_paths]
    records = [r for path, raw in raws for r in all_records(raw, f"--data {path}")]
    if analyzer is None:
        from cartriage.analysis import analyze as analyzer
    facts, facts_card = _facts(facts_path)
    source = model_folder()  # the encoder's weights, copied to `out` for run time
    data = prepare(records, config, analyzer, facts, source)
    with threadpool_limits(1):  # one BLAS thread: faster here than threads contending
        report = validate(data)
        consequence, text, difficulty = fit_all(data)
    log(format_report(report))
    out.mkdir(parents=True, exist_ok=True)
    common = {
        "feature_version": features.FEATURE_VERSION,
        "trained": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "training_data": {"files": [{"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()}
                                    for path, raw in raws],
                          "records": len(data), "issues": report["issues"],
                          "repositories": report["repositories"]},
        "libraries": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                      "skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__,
                      "numpy": np.__version__},
        "seed": SEED,
        "classes": list(TIERS),
        "analysis": "diff-only analysis of each record (train.prepare)",
        "repo_facts": {**facts_card, "records_with_facts": report["records_with_repo_facts"]},
        "validation": {k: report[k] for k in ("folds", "modes", "tests/docs units")},
    }
    encoder_card = _copy_encoder(source, out)
    specs = (
        ("consequence", consequence, "consequence",
         "features.consequence_features(unit scope); the records of both files"),
        ("consequence-issue", text, "consequence",
         "features.consequence_features(text only); issue texts + PR texts at "
         f"weight {TEXT_WEIGHT_CHANGES}"),
        ("difficulty", difficulty, "difficulty", "features.difficulty_features(unit scope)"),
    )
    for name, model, label, described in specs:
        X = rows(name, data)
        onnx_bytes = export(model, X.shape[1], out / f"{name}.onnx")
        _check_export(out / f"{name}.onnx", model, X)
        card = {
            "name": name, "file": f"{name}.onnx", "target": label,
            "inputs": (f"{described}, numeric part" if name in NUMERIC_ONLY else described)
                      + (f"; then the text's sentence embedding x {ENCODED[name]}"
                         if name in ENCODED else "")
                      + (f"; then features.rubric_words x {RUBRIC_WORDS[name]}"
                         if name in RUBRIC_WORDS else ""),
            **({"change_share": CHANGE_SHARE[name]} if name in CHANGE_SHARE else {}),
            "features": "numeric" if name in NUMERIC_ONLY else "all",
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(), "input_dim": int(X.shape[1]),
            "estimator": f"LogisticRegression(C={C[name]}, lbfgs"
                         f"{', balanced' if name in BALANCED else ''})",
            **common, "rule": report["rules"][name],
            "coefficients": _encode(model),
        }
        if name in ENCODED:
            card["encoder"] = {**encoder_card, "scale": ENCODED[name], "text": EMBEDDED[name][0],
                               "max_tokens": EMBEDDED[name][1], "products": EMBEDDED[name][2]}
        if name in RUBRIC_WORDS:
            card["rubric_words"] = {"scale": RUBRIC_WORDS[name],
                                    "names": list(features.RUBRIC_NAMES)}
        if name in NEIGHBOURS:
            card["neighbours"] = _write_neighbours(out / f"{name}.neighbours.npy", data,
                                                   NEIGHBOURS[name])
        if label == "difficulty":
            card["defect_rates"] = DEFECT_RATES
        (out / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n")
        log(f"wrote {out / (name + '.onnx')} ({len(onnx_bytes) / 1024:.0f} KiB) and {name}.json")
    return report


def _copy_encoder(source: Path, out: Path) -> dict[str, Any]:
    """Put the sentence encoder's folder in `out` (unless it is already there); its card entry."""
    where = source / encoder.FOLDER
    if (out / encoder.FOLDER).resolve() != where.resolve():
        # Each file replaced whole, never rewritten in place: a running cartriage maps
        # weights.bin (onnxruntime), and a file truncated under it ends that process (SIGBUS).
        (out / encoder.FOLDER).mkdir(parents=True, exist_ok=True)
        for path in sorted(where.iterdir()):
            if path.is_file():
                encoder.replace_file(out / encoder.FOLDER / path.name, path.read_bytes())
    return {"folder": encoder.FOLDER,
            "sha256": encoder.source_sha256(where),
            "tokenizer_sha256": hashlib.sha256((where / "tokenizer.json").read_bytes()).hexdigest(),
            "model": "all-MiniLM-L6-v2, int8 ONNX (models/encoder/NOTICE.txt)"}


def _write_neighbours(path: Path, data: list[Prepared], k: int) -> dict[str, Any]:
    """Save the issues a text model finds similar ones among (embedding, then tier: one float32
    row each; np.save writes the same bytes for the same array); their card entry."""
    found = pool(data)
    table = np.hstack([np.vstack([p.text_e for p in found]),
                       np.array([[p.consequence] for p in found])]).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, table, allow_pickle=False)
    path.write_bytes(buffer.getvalue())
    return {"file": path.name, "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "k": k, "issues": len(found), "names": list(features.NEIGHBOUR_NAMES)}


def _facts(path: Path | None) -> tuple[dict[str, dict], dict[str, Any]]:
    if path is None:
        return {}, {"file": None}
    raw = _read(path, "--repo-facts")
    try:
        facts = repo_facts.load(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"--repo-facts {exc}") from None
    return facts, {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()}


def _read(path: Path, option: str = "--data") -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot read: {exc.strerror}") from None


def _encode(model) -> dict[str, Any]:
    coef = np.zeros((3, model.coef_.shape[1]), dtype=np.float32)
    coef[model.classes_] = model.coef_
    return {"shape": list(coef.shape), "float32_base64": base64.b64encode(coef.tobytes()).decode()}


def _check_export(path: Path, model, X: np.ndarray) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": X.astype(np.float32)})[1]
    gap = float(np.max(np.abs(got - model.predict_proba(X))))
    if gap > 1e-4:
        raise CartriageError(f"{path}: ONNX export differs from scikit-learn by {gap:.2g}")


def format_report(report: dict[str, Any]) -> str:
    lines = [f"grouped validation ({report['folds']} folds of whole repositories): "
             f"{report['records']} records ({report['issues']} issues), "
             f"{len(report['repositories'])} repositories, "
             f"{report['records_with_repo_facts']} with repository facts (fan-in)",
             f"decision rules (cost-weighted argmax): {report['rules']}"]
    lines.append(f"tests/docs-only units of mixed records: {report['tests/docs units']}")
    for mode, results in report["modes"].items():
        lines.append(f"\n== {mode}")
        for how, m in results.items():
            lines.append(f"  {how:28} macro-F1 {m['macro_f1']:.3f}  recall(high) "
                         f"{m['recall_high']:.3f}  precision(high) {m['precision_high']:.3f}  "
                         f"high->low {m['high_predicted_low']}/{m['highs']}  "
                         f"Brier {m['brier']:.3f}  ECE {m['ece']:.3f}  confusion {m['confusion']}")
    return "\n".join(lines)
