"""Scoring at run time: consequence and difficulty per unit and per change, from the ONNX models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cartriage.analysis.roles import default_consequence
from cartriage.errors import CartriageError, ModelError
from cartriage.scoring import decision, encoder, features, model
from cartriage.scoring.records import RecordError, record_id, to_change
from cartriage.scoring.scores import (
    TIERS,
    Consequence,
    Difficulty,
    RecordScore,
    Scores,
    UnitScore,
)

if TYPE_CHECKING:
    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config, Rule
    from cartriage.intake.change import ChangeSet


def score(change: ChangeSet, analysis: Analysis, config: Config) -> Scores:
    """Score every unit; the change's consequence is its riskiest unit's (see decision.envelope).

    Without reviewed units (an issue, or only ignored files) the text-only model scores the change.
    """
    return score_many([(change, analysis)], config)[0]


def score_many(changes: Sequence[tuple[ChangeSet, Analysis]], config: Config) -> list[Scores]:
    """`score` of each (change, analysis), in order, computed together: the changes' texts
    embedded in one encoder call, each model run once over every unit of every change."""
    if not changes:
        return []
    weights = {t: float(config.get("weights", t)) for t in TIERS}
    difficulty_model = model.load("difficulty")
    prepared = [_prepare(change, analysis) for change, analysis in changes]
    consequence_models = {name: model.load(name) for name in
                          sorted({p.consequence_model for p in prepared})}
    everyone = range(len(prepared))
    embeddings = text_embeddings([change for change, _ in changes], {
        **{name: (found, [i for i in everyone if prepared[i].consequence_model == name])
           for name, found in consequence_models.items()},
        "difficulty": (difficulty_model, list(everyone))})
    # Every scope a model scores, with the change it belongs to (its text and embedding).
    hard_jobs = [(i, p.whole if p.whole.files else None) for i, p in enumerate(prepared)]
    hard_jobs += [(i, scope) for i, p in enumerate(prepared) for _, scope in p.scoped]
    difficulties = iter(_difficulties(difficulty_model, prepared, embeddings["difficulty"],
                                      hard_jobs))
    change_difficulty = [next(difficulties) for _ in prepared]
    found = {}
    for name, consequence_model in consequence_models.items():
        jobs = [(i, scope) for i, p in enumerate(prepared) if p.consequence_model == name
                for scope in ([s for _, s in p.scoped] or [None])]
        words = np.vstack([features.rubric_words(change) for change, _ in changes]) \
            if consequence_model.reads_rubric_words else None
        found[name] = iter(_consequences(consequence_model, prepared, embeddings[name], jobs,
                                         weights, words))
    out = []
    for p, (_, analysis), difficulty in zip(prepared, changes, change_difficulty, strict=True):
        version = f"{consequence_models[p.consequence_model].version} {difficulty_model.version}"
        consequences = found[p.consequence_model]
        if not p.scoped:
            out.append(Scores(units=(), change=next(consequences), difficulty=difficulty,
                              mode="issue", model_version=version))
            continue
        units = [_unit(unit, next(consequences), next(difficulties), analysis, config, weights)
                 for unit, _ in p.scoped]
        out.append(Scores(units=tuple(units), change=_riskiest(units, weights),
                          difficulty=difficulty, model_version=version))
    return out


@dataclass(frozen=True)
class _Prepared:
    """One change made ready to score: its units' scopes, its text, its whole scope."""

    scoped: list
    text: features.Text
    whole: Any

    @property
    def consequence_model(self) -> str:
        return "consequence" if self.scoped else "consequence-issue"


def _prepare(change: ChangeSet, analysis: Analysis) -> _Prepared:
    lines: dict = {}  # each hunk's lines read once for all the change's scopes
    return _Prepared(features.scopes(change, analysis, lines), features.read_text(change),
                     features.whole_change(change, analysis, lines))


def _unit(unit, found: Consequence, hard: Difficulty, analysis: Analysis, config: Config,
          weights: dict[str, float]) -> UnitScore:
    """A unit's scores; a `[[rules]]` pin or a role's default consequence overrides the tier."""
    facts = analysis.facts(unit.path)
    names = facts.role_names if facts else ()
    rule = _pinning_rule(config.rules, unit.path, names)
    pinned = (rule.consequence, rule.describe()) if rule else default_consequence(names)
    if pinned is not None:
        found = Consequence(tier=pinned[0], probabilities=found.probabilities,
                            expected_weight=weights[pinned[0]],
                            top_features=found.top_features, override=pinned[1])
    return UnitScore(unit_id=unit.id, consequence=found, difficulty=hard)


def text_embeddings(changes: list[ChangeSet], models: dict[str, tuple[model.Model, list[int]]]
                    ) -> dict[str, np.ndarray | None]:
    """For each model name, given with the model and the indices of the changes it scores: one
    row per change, each scored change's text as the model's card says
    (`encoder.text`, cut at `encoder.max_tokens`, by the graph `encoder.products`), when the
    model reads an embedding, else None. Each text, cut and graph is encoded once; the encoder
    loads only when some model reads one."""
    wanted: dict[tuple[str, int, str], tuple[set[int], str]] = {}
    for found, which in models.values():
        if found.reads_embedding and which:
            rows, _ = wanted.setdefault(_embedded(found), (set(), found.card["encoder"]["sha256"]))
            rows.update(which)
    vectors = {}
    for (text, cut, products), (which, sha256) in wanted.items():
        rows = sorted(which)
        vectors[text, cut, products] = np.zeros((len(changes), encoder.DIMENSION),
                                                dtype=np.float32)
        vectors[text, cut, products][rows] = encoder.encode(
            [features.embedded_text(changes[i], text) for i in rows], model.model_dir(), sha256,
            max_tokens=cut, products=products)
    return {name: vectors.get(_embedded(found)) if found.reads_embedding else None
            for name, (found, _) in models.items()}


def _embedded(found: model.Model) -> tuple[str, int, str]:
    """What a model embeds, where it is cut and by which graph (its card's `encoder` entry;
    cards without `text` embed the whole text, cards without `products` the float graph's)."""
    card = found.card["encoder"]
    return (card.get("text", "text"), int(card["max_tokens"]),
            card.get("products", encoder.UNNAMED_PRODUCTS))


def _consequences(found: model.Model, prepared, embeddings, jobs, weights,
                  words=None) -> list[Consequence]:
    """Each job's (change index, scope) consequence; a tests/docs-only unit is decided on its
    own, never high (decision.minor_unit), whatever the change's text around it says. `words`:
    each change's features.rubric_words, for a model that reads them. Any other unit's
    features are pulled toward its whole change's as the card says (features.with_change)."""
    share, wholes = found.change_share, {}

    def featurize(i, scope):
        unit = features.consequence_features(prepared[i].text, scope, found.numeric_only)
        if not share or scope is None or features.minor(scope):
            return unit
        if i not in wholes:  # once per change
            wholes[i] = features.as_context(features.consequence_features(
                prepared[i].text, prepared[i].whole, found.numeric_only))
        return features.with_change(unit, wholes[i], share)

    return [Consequence(tier=tier, probabilities=_named(row),
                        expected_weight=_expected(row, weights), top_features=top)
            for row, tier, top in _predict(found, jobs, featurize, embeddings, minor=True,
                                           words=words)]


def _difficulties(found: model.Model, prepared, embeddings, jobs) -> list[Difficulty]:
    def featurize(i, scope):
        return features.difficulty_features(prepared[i].text, scope)

    rates = found.card["defect_rates"]
    return [Difficulty(tier=tier, probabilities=_named(row),
                       defect_probability=_expected(row, rates), top_features=top)
            for row, tier, top in _predict(found, jobs, featurize, embeddings)]


# Feature rows a model runs on at once: a large range's vectors are not all held together.
ROWS = 256


def _predict(found: model.Model, jobs, featurize, embeddings, minor: bool = False,
             words: np.ndarray | None = None):
    """(tier probabilities, tier, top features) for each (change index, scope) job, ROWS at a
    time. With `minor`, a tests/docs-only scope goes through decision.minor_unit and is
    decided by the rule's tests/docs weight."""
    for start in range(0, len(jobs), ROWS):
        part = jobs[start:start + ROWS]
        feats = [featurize(i, scope) for i, scope in part]
        flags = [minor and scope is not None and features.minor(scope) for _, scope in part]
        changes = [i for i, _ in part]
        X = found.rows(feats, None if embeddings is None else embeddings[changes],
                       None if words is None else words[changes])
        probabilities = found.probabilities(X)
        for k in np.flatnonzero(flags):
            probabilities[k] = decision.minor_unit(probabilities[k])
        # Rounded once, so tiers, weights and the change envelope agree with what is shown.
        probabilities = np.round(probabilities, 4)
        for f, x, row, is_minor in zip(feats, X, probabilities, flags, strict=True):
            tier = decision.tier(row, found.rule, is_minor)
            yield row, tier, found.top_features(f, decision.rank(tier), x)


def _expected(row, values: dict[str, float]) -> float:
    """The expectation of a per-tier value (cost weight, defect rate) under tier probabilities."""
    return round(float(sum(p * values[t] for p, t in zip(row, TIERS, strict=True))), 4)


def _named(row) -> dict[str, float]:
    return {t: round(float(p), 4) for t, p in zip(TIERS, row, strict=True)}


def _pinning_rule(rules: Iterable[Rule], path: str, roles: tuple[str, ...]) -> Rule | None:
    """The last `[[rules]]` entry that matches the unit and pins a consequence tier."""
    pinned = [r for r in rules if r.consequence and r.matches(path, roles)]
    return pinned[-1] if pinned else None


def _riskiest(units: list[UnitScore], weights: dict[str, float]) -> Consequence:
    """The change's consequence: the envelope of its units (a pinned unit counts as certain)."""
    rows = [decision.one_hot(u.consequence.tier) if u.consequence.override
            else tuple(u.consequence.probabilities[t] for t in TIERS) for u in units]
    probabilities = decision.envelope(rows)
    top = max(units, key=lambda u: (decision.rank(u.consequence.tier),
                                    u.consequence.probabilities["high"]))
    tier = top.consequence.tier
    model_tiers = [u.consequence.tier for u in units if not u.consequence.override]
    override = top.consequence.override if tier not in model_tiers else None
    return Consequence(
        tier=tier, probabilities=_named(probabilities),
        expected_weight=_expected(probabilities, weights),
        top_features=top.consequence.top_features if len(units) == 1 else tuple(
            (f"{top.unit_id}: {name}", value) for name, value in top.consequence.top_features),
        override=override,
    )


# Records converted and analysed before their texts are encoded together (bounds memory).
CHUNK = 64


def predict_records(records: Iterable[dict[str, Any]], config: Config) -> list[RecordScore]:
    """One RecordScore per record, in order; a record that cannot be scored gets `error` set.

    Reads only the change fields (`id`, `title`, `message`, `issue`, `description`, `diff`,
    `diff_truncated`), never `labels` or `signals`. A missing or broken model is fatal.
    The records are scored CHUNK at a time (score_many).
    """
    out: list[RecordScore] = []
    chunk: list[tuple[str | None, Any]] = []
    for record in records:
        chunk.append(_analysed(record, config))
        if len(chunk) == CHUNK:
            out += _score_chunk(chunk, config)
            chunk = []
    return out + _score_chunk(chunk, config)


def _analysed(record: Any, config: Config) -> tuple[str | None, Any]:
    """(id, (change, analysis)) for a usable record, (id, error message) for another."""
    from cartriage.analysis import analyze

    name = record.get("id") if isinstance(record, dict) else None
    name = name if isinstance(name, str) else None
    try:
        if not isinstance(record, dict):
            raise RecordError("not a JSON object")
        name = record_id(record)
        change = to_change(record, config)
        return name, (change, analyze(change, config))
    except ModelError:
        raise
    except CartriageError as exc:
        return name, str(exc)


def _score_chunk(chunk: list[tuple[str | None, Any]], config: Config) -> list[RecordScore]:
    """Score analysed records together (score_many)."""
    usable = [found for _, found in chunk if not isinstance(found, str)]
    try:
        scored = iter(score_many(usable, config))
    except ModelError:
        raise
    except CartriageError:  # one record's error: each scored alone, the error kept on it
        scored = iter(_alone(found, config) for found in usable)
    out = []
    for name, found in chunk:
        if isinstance(found, str):
            out.append(RecordScore(id=name, error=found))
            continue
        scores = next(scored)
        if isinstance(scores, str):
            out.append(RecordScore(id=name, error=scores))
            continue
        out.append(RecordScore(id=name, consequence=scores.change, difficulty=scores.difficulty,
                               mode=scores.mode, units=len(scores.units)))
    return out


def _alone(found: tuple[ChangeSet, Analysis], config: Config) -> Scores | str:
    """`score` of one analysed record, or its error message."""
    try:
        return score(*found, config)
    except ModelError:
        raise
    except CartriageError as exc:
        return str(exc)


def to_line(scored: RecordScore) -> dict[str, Any]:
    """The `cartriage score` JSON line for one record."""
    if scored.error is not None:
        return {"id": scored.id, "error": scored.error}
    change = scored.consequence
    line: dict[str, Any] = {
        "id": scored.id, "consequence": change.tier, "probabilities": change.probabilities,
        "expected_weight": change.expected_weight, "mode": scored.mode, "units": scored.units,
    }
    if change.override:
        line["override"] = change.override
    if scored.difficulty is not None:
        d = scored.difficulty
        line["difficulty"] = {"tier": d.tier, "probabilities": d.probabilities,
                              "defect_probability": d.defect_probability}
    return line
