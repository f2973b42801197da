"""Training: fit the scoring models on labelled records, validate leave-one-repository-out, export.

The only module that imports scikit-learn and skl2onnx (the `train` extra). Three models, each a
multinomial logistic regression over the shared feature function (features.py):
- `consequence`: a review unit with its diff (trained on whole records: a record is one unit);
- `consequence-issue`: text alone (the same records with the diff withheld);
- `difficulty`: change-risk features, against the separate difficulty labels.
Validation mirrors deployment: a held-out record is scored per unit and its consequence is the
riskiest-unit envelope (decision.envelope). Thresholds are chosen on the pooled out-of-fold
predictions so that no high record is predicted low; a nested estimate (thresholds chosen
without the held-out repository) is reported next to it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cartriage.errors import CartriageError, InputError
from cartriage.scoring import decision, features, repo_facts
from cartriage.scoring.records import RecordError, all_records, to_change
from cartriage.scoring.scores import DEFECT_RATES, TIERS

try:
    import onnx
    import skl2onnx
    import sklearn
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise CartriageError(
        f"training needs the train extra ({exc.name} is missing): pip install -e .[train]"
    ) from None

SEED = 20240611
# Chosen among 0.1, 0.3, 1, 3, 10: the best leave-one-repository-out macro-F1 with no high
# record predicted low (a larger C gives a higher macro-F1 but an over-confident low).
C = {"consequence": 0.1, "consequence-issue": 3.0, "difficulty": 1.0}
HIGH = 2
# Rows of the consequence model (see consequence_rows). "both" (with and without repository
# facts) was measured against "diff" at the same analysis stage (python -m
# cartriage.scoring.train --compare): its gain with repository facts was within one to two
# records and it did slightly worse from a diff alone, so the shipped model keeps "diff"
# (the fan-in features then get zero weight; see the scoring README for the figures).
ROWS = "diff"


@dataclass
class Prepared:
    """One labelled record, featurised for every model.

    `record_c`/`units_c` see the stored repository facts (fan-in) when the record has them;
    `record_c_diff`/`units_c_diff` are the same record analysed from its diff alone.
    """

    id: str
    repo: str
    consequence: int
    difficulty: int
    record_c: np.ndarray
    record_d: np.ndarray
    issue: np.ndarray
    units_c: np.ndarray
    record_c_diff: np.ndarray
    units_c_diff: np.ndarray
    has_facts: bool = False


def prepare(records: list[dict[str, Any]], config, analyzer: Callable,
            facts: dict[str, dict] | None = None) -> list[Prepared]:
    """Featurise labelled records with diff-only analysis, plus the stored repository facts
    (`repo_facts.load`) where a record has them."""
    out = []
    for record in records:
        labels = record.get("labels") or {}
        try:
            change = to_change(record, config)
        except RecordError as exc:
            raise InputError(f"training record unusable: {exc}") from None
        if labels.get("consequence") not in TIERS or labels.get("difficulty") not in TIERS:
            raise InputError(f"{record.get('id')}: labels.consequence/difficulty missing")
        diff_only = analyzer(change, config)
        known = (facts or {}).get(record["id"])
        analysis = repo_facts.apply(diff_only, known)
        record_c, units_c = _consequence_rows(change, analysis)
        record_c_diff, units_c_diff = (_consequence_rows(change, diff_only) if known is not None
                                       else (record_c, units_c))
        whole = features.whole_change(change, diff_only)
        out.append(Prepared(
            id=record["id"], repo=str(record.get("repo") or record["id"].split("@")[0]),
            consequence=TIERS.index(labels["consequence"]),
            difficulty=TIERS.index(labels["difficulty"]),
            record_c=record_c, record_d=features.difficulty_features(change, whole).vector,
            issue=features.consequence_features(_text_only(change), None).vector,
            units_c=units_c, record_c_diff=record_c_diff, units_c_diff=units_c_diff,
            has_facts=known is not None,
        ))
    return out


def _consequence_rows(change, analysis) -> tuple[np.ndarray, np.ndarray]:
    """The whole record's consequence features (a training row) and its units' (deployment)."""
    whole = features.whole_change(change, analysis)
    scopes = [scope for _, scope in features.scopes(change, analysis)]
    return (features.consequence_features(change, whole).vector,
            _stack([features.consequence_features(change, s).vector for s in scopes]))


def _text_only(change):
    """The record with its diff withheld: what issue-only mode sees."""
    return replace(change, files=(), ignored=())


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def fit(name: str, X: np.ndarray, y: np.ndarray,
        weights: np.ndarray | None = None) -> LogisticRegression:
    model = LogisticRegression(C=C[name], class_weight="balanced", solver="newton-cg",
                               max_iter=1000,
                               random_state=SEED)
    model.fit(X, y, sample_weight=weights)
    return model


def consequence_rows(data: list[Prepared],
                     rows: str = ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, sample weights) of the consequence model.

    `rows` names the training rows: "diff" the records' diff-only analysis, "facts" their
    analysis with repository facts, "both" each record twice (with and without its facts, half
    weight each), so that one model serves a change with a repository and a bare diff.
    "+units" adds, for each low record of several units, its units labelled low (together the
    weight of one record): a change is as risky as its riskiest unit, so every unit of a low
    change is low, an exact unit label (the units of medium and high changes have none).
    """
    base, _, extra = rows.partition("+")
    X, y, w = [], [], []
    for p in data:
        variants = {"diff": [(p.record_c_diff, p.units_c_diff)],
                    "facts": [(p.record_c, p.units_c)],
                    "both": [(p.record_c, p.units_c), (p.record_c_diff, p.units_c_diff)]
                    if p.has_facts else [(p.record_c, p.units_c)]}[base]
        for record, units in variants:
            X.append(record[None, :])
            y.append(p.consequence)
            w.append(1.0 / len(variants))
            if extra == "units" and p.consequence == 0 and units.shape[0] > 1:
                X.append(units)
                y += [0] * units.shape[0]
                w += [1.0 / len(variants) / units.shape[0]] * units.shape[0]
    return np.vstack(X), np.array(y), np.array(w)


def _proba(model, X: np.ndarray) -> np.ndarray:
    """Probabilities in tier order even when a fold lacks a class."""
    out = np.zeros((X.shape[0], 3))
    out[:, model.classes_] = model.predict_proba(X)
    return out


def out_of_fold(data: list[Prepared], rows: str = ROWS) -> dict[str, np.ndarray]:
    """Leave-one-repository-out probabilities per record for each model, as deployed.

    `consequence` scores a held-out record with its repository facts (where it has them),
    `consequence-diff` the same record from its diff alone.
    """
    repos = sorted({p.repo for p in data})
    oof = {name: np.zeros((len(data), 3))
           for name in ("consequence", "consequence-diff", "issue", "difficulty")}
    for repo in repos:
        train = [data[i] for i, p in enumerate(data) if p.repo != repo]
        test = [i for i, p in enumerate(data) if p.repo == repo]
        yc = np.array([p.consequence for p in train])
        yd = np.array([p.difficulty for p in train])
        mc = fit("consequence", *consequence_rows(train, rows))
        mi = fit("consequence-issue", np.vstack([p.issue for p in train]), yc)
        md = fit("difficulty", np.vstack([p.record_d for p in train]), yd)
        for i in test:
            oof["issue"][i] = _proba(mi, data[i].issue[None, :])[0]
            oof["consequence"][i] = _deployed(mc, data[i].units_c, oof["issue"][i])
            oof["consequence-diff"][i] = _deployed(mc, data[i].units_c_diff, oof["issue"][i])
            oof["difficulty"][i] = _proba(md, data[i].record_d[None, :])[0]
    return oof


def _deployed(model, units: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """A change's consequence: the riskiest-unit envelope, or the text model without units."""
    if units.shape[0]:
        return np.array(decision.envelope(_proba(model, units)))
    return fallback


def choose_thresholds(P: np.ndarray, y: np.ndarray) -> decision.Thresholds:
    """Fewest high-predicted-low first, then the best macro-F1, on a grid of thresholds."""
    grid = np.round(np.concatenate([[0.01, 0.02, 0.03, 0.04], np.arange(0.05, 0.951, 0.025),
                                    [0.97, 0.98, 0.99]]), 3)
    p_low, p_high = P[:, 0], P[:, 2]
    low_ok = p_low[None, :] >= grid[:, None]  # one row per low threshold
    best, best_key = None, None
    for t_high in grid:
        is_high = p_high >= t_high
        for guard in grid[grid <= t_high]:
            low = low_ok & ((p_high < guard) & ~is_high)[None, :]
            pred = np.where(low, 0, np.where(is_high, 2, 1)[None, :])
            misses = np.sum(low & (y == HIGH)[None, :], axis=1)
            f1 = _macro_f1_rows(y, pred)
            for i in np.lexsort((-f1, misses))[:1]:
                key = (-int(misses[i]), round(float(f1[i]), 9), -float(t_high), float(guard))
                if best_key is None or key > best_key:
                    best, best_key = (float(t_high), float(guard), float(grid[i])), key
    return decision.Thresholds(*best)


def _macro_f1_rows(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    total = np.zeros(pred.shape[0])
    for k in range(3):
        tp = np.sum((pred == k) & (y == k)[None, :], axis=1)
        denom = np.sum(y == k) + np.sum(pred == k, axis=1)
        total += np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return total / 3


def predict(P: np.ndarray, t: decision.Thresholds) -> np.ndarray:
    return np.array([TIERS.index(decision.tier(row, t)) for row in P])


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    scores = []
    for k in range(3):
        tp = np.sum((y == k) & (pred == k))
        denom = np.sum(y == k) + np.sum(pred == k)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    cm = np.zeros((3, 3), dtype=int)
    for a, b in zip(y, pred, strict=True):
        cm[a, b] += 1
    high_pred = int(np.sum(pred == HIGH))
    return {
        "confusion": cm.tolist(),
        "macro_f1": round(macro_f1(y, pred), 4),
        "accuracy": round(float(np.mean(y == pred)), 4),
        "recall_high": round(float(cm[2, 2] / max(cm[2].sum(), 1)), 4),
        "precision_high": round(float(cm[2, 2] / high_pred), 4) if high_pred else 0.0,
        "recall_low": round(float(cm[0, 0] / max(cm[0].sum(), 1)), 4),
        "high_predicted_low": int(cm[2, 0]),
    }


def nested(P: np.ndarray, y: np.ndarray, repos: list[str]) -> dict[str, Any]:
    """Thresholds chosen without the held-out repository, applied to it."""
    pred = np.zeros_like(y)
    for repo in sorted(set(repos)):
        held = np.array([r == repo for r in repos])
        pred[held] = predict(P[held], choose_thresholds(P[~held], y[~held]))
    return metrics(y, pred)


def validate(data: list[Prepared], rows: str = ROWS) -> dict[str, Any]:
    """The leave-one-repository-out report for the three models.

    The consequence model is reported in two conditions, with the records' repository facts
    (`consequence`) and from the diff alone (`consequence-diff`); one set of thresholds, chosen
    on both conditions' predictions together, serves both.
    """
    oof = out_of_fold(data, rows)
    repos = [p.repo for p in data]
    report: dict[str, Any] = {"records": len(data), "repositories": sorted(set(repos)),
                              "records_with_repo_facts": sum(p.has_facts for p in data),
                              "consequence_rows": rows}
    yc = np.array([p.consequence for p in data])
    both = choose_thresholds(np.vstack([oof["consequence"], oof["consequence-diff"]]),
                             np.concatenate([yc, yc]))
    for name, key, label in (("consequence", "consequence", "consequence"),
                             ("consequence-diff", "consequence-diff", "consequence"),
                             ("consequence-issue", "issue", "consequence"),
                             ("difficulty", "difficulty", "difficulty")):
        y = np.array([getattr(p, label) for p in data])
        t = both if key.startswith("consequence") else choose_thresholds(oof[key], y)
        pred = predict(oof[key], t)
        argmax = oof[key].argmax(axis=1)
        per_repo = {}
        for repo in sorted(set(repos)):
            held = np.array([r == repo for r in repos])
            m = metrics(y[held], pred[held])
            per_repo[repo] = {k: m[k] for k in ("macro_f1", "recall_high", "high_predicted_low")}
        report[name] = {"thresholds": t.to_dict(), "loo": metrics(y, pred),
                        "loo_nested_thresholds": nested(oof[key], y, repos),
                        "loo_argmax": metrics(y, argmax), "per_repository": per_repo}
    return report


def export(model, dim: int, path: Path) -> bytes:
    onx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, dim]))],
                          options={id(model): {"zipmap": False}}, target_opset=17,
                          name=path.stem)  # a fixed graph name (default: a random uuid)
    data = onx.SerializeToString()
    path.write_bytes(data)
    return data


def train(data_path: Path, out: Path, config, analyzer: Callable | None = None,
          log: Callable[[str], None] = print, facts_path: Path | None = None) -> dict[str, Any]:
    """Validate, fit on everything, export the three models and their cards; return the report.

    `facts_path`: the repository facts of the records (repo_facts.py), or None for none.
    """
    raw = _read(data_path)
    records = all_records(raw, f"--data {data_path}")
    if analyzer is None:
        from cartriage.analysis import analyze as analyzer
    facts, facts_card = _facts(facts_path)
    data = prepare(records, config, analyzer, facts)
    report = validate(data)
    log(format_report(report))
    out.mkdir(parents=True, exist_ok=True)
    common = {
        "feature_version": features.FEATURE_VERSION,
        "trained": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "training_data": {"file": data_path.name, "sha256": hashlib.sha256(raw).hexdigest(),
                          "records": len(data), "repositories": report["repositories"]},
        "libraries": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                      "skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__,
                      "numpy": np.__version__},
        "seed": SEED,
        "classes": list(TIERS),
        "analysis": ("diff-only analysis of each record; its stored repository facts (fan-in, "
                     "fan-in percentile, core) give the 'with repository facts' condition of the "
                     f"validation; consequence trained on rows={ROWS!r} (train.consequence_rows)"),
        "repo_facts": {**facts_card, "records_with_facts": report["records_with_repo_facts"]},
    }
    specs = (
        ("consequence", "record_c", "consequence", "features.consequence_features(unit scope)"),
        ("consequence-issue", "issue", "consequence", "features.consequence_features(text only)"),
        ("difficulty", "record_d", "difficulty", "features.difficulty_features(unit scope)"),
    )
    for name, attr, label, inputs in specs:
        X = np.vstack([getattr(p, attr) for p in data])
        y = np.array([getattr(p, label) for p in data])
        model = fit(name, *consequence_rows(data)) if name == "consequence" else fit(name, X, y)
        onnx_bytes = export(model, X.shape[1], out / f"{name}.onnx")
        _check_export(out / f"{name}.onnx", model, X)
        card = {
            "name": name, "file": f"{name}.onnx", "target": label, "inputs": inputs,
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(), "input_dim": int(X.shape[1]),
            "estimator": f"LogisticRegression(C={C[name]}, class_weight='balanced', newton-cg)",
            **common, "thresholds": report[name]["thresholds"],
            "metrics": {k: v for k, v in report[name].items() if k != "thresholds"},
            "coefficients": _encode(model),
        }
        if label == "difficulty":
            card["defect_rates"] = DEFECT_RATES
        (out / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n")
        log(f"wrote {out / (name + '.onnx')} ({len(onnx_bytes) / 1024:.0f} KiB) and {name}.json")
    return report


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
    lines = [f"leave-one-repository-out validation: {report['records']} records, "
             f"{len(report['repositories'])} repositories, "
             f"{report['records_with_repo_facts']} with repository facts (fan-in)"]
    titles = {"consequence": "consequence, with repository facts",
              "consequence-diff": "consequence, diff only (repository facts withheld)",
              "consequence-issue": "consequence-issue", "difficulty": "difficulty"}
    for name, title in titles.items():
        r = report[name]
        lines.append(f"\n== {title}  thresholds {r['thresholds']}")
        for key, title in (("loo", "pooled thresholds (shipped)"),
                           ("loo_nested_thresholds", "nested thresholds (held-out repo unseen)"),
                           ("loo_argmax", "argmax (no decision rule)")):
            m = r[key]
            lines.append(f"  {title}: macro-F1 {m['macro_f1']:.3f}  accuracy {m['accuracy']:.3f}"
                         f"  recall(high) {m['recall_high']:.3f}  precision(high) "
                         f"{m['precision_high']:.3f}  high->low {m['high_predicted_low']}")
        lines.append("  confusion (rows true low/medium/high, columns predicted):")
        lines += [f"    {TIERS[i]:>6} {row}" for i, row in enumerate(r["loo"]["confusion"])]
        lines.append("  per repository (macro-F1, recall high, high->low):")
        lines += [f"    {repo:32} {m['macro_f1']:.3f} {m['recall_high']:.3f} "
                  f"{m['high_predicted_low']}" for repo, m in r["per_repository"].items()]
    return "\n".join(lines)


def compare(data_path: Path, facts_path: Path | None, variants: list[str], config,
            log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """The consequence model's leave-one-repository-out figures for several training-row
    variants (see consequence_rows), in both conditions; nothing is written."""
    records = all_records(_read(data_path), f"--data {data_path}")
    from cartriage.analysis import analyze

    data = prepare(records, config, analyze, _facts(facts_path)[0])
    out = {}
    for rows in variants:
        report = validate(data, rows)
        out[rows] = {k: report[k] for k in ("consequence", "consequence-diff")}
        for name, title in (("consequence", "with repository facts"),
                            ("consequence-diff", "diff only")):
            r = report[name]
            for key in ("loo", "loo_nested_thresholds"):
                m = r[key]
                log(f"rows={rows:12} {title:22} {key:22} macro-F1 {m['macro_f1']:.3f}  "
                    f"recall(high) {m['recall_high']:.3f}  precision(high) "
                    f"{m['precision_high']:.3f}  high->low {m['high_predicted_low']}  "
                    f"confusion {m['confusion']}")
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m cartriage.scoring.train --compare diff both --data F [--repo-facts F]`."""
    import argparse
    import os

    from cartriage import config as configuration

    parser = argparse.ArgumentParser(prog="python -m cartriage.scoring.train",
                                     description=compare.__doc__.split(";")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repo-facts", type=Path, default=None)
    parser.add_argument("--compare", nargs="+", required=True,
                        choices=[f"{b}{u}" for b in ("diff", "facts", "both")
                                 for u in ("", "+units")])
    args = parser.parse_args(argv)
    settings = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    compare(args.data, args.repo_facts, args.compare, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
