import hashlib
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cartriage import config as configuration
from cartriage.errors import CartriageError
from cartriage.scoring import encoder, features
from cartriage.scoring.records import to_change
from tests.scoring.helpers import record, write_jsonl

CONFIG = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": "/nonexistent"})
KINDS = {
    "low": ("Fix typo in docs", "docs/guide.md", ["Some clearer words here"], "low"),
    "medium": ("Handle empty search results", "app/search/view.py",
               ["def search(q):", "    if not q:", "        return []"], "medium"),
    "high": ("Add migration dropping the sessions table", "db/migrations/0007_sessions.py",
             ["op.drop_table('sessions')", "op.add_column('users', 'token_hash')"], "high"),
}


def _records(tmp_path: Path) -> Path:
    """Changes from three repositories and issues (no commit sha) from two others."""
    rows = []
    for r, repo in enumerate(("acme/a", "acme/b", "acme/c", "issues/d", "issues/e")):
        for n in range(4):
            for tier, (title, path, lines, difficulty) in KINDS.items():
                name = f"{tier}{r}{n}"
                row = record(name, f"{title} {n}", {path.replace(".", f"{n}."): lines},
                             labels=(tier, difficulty), repo=repo)
                if not repo.startswith("issues/"):
                    row["sha"] = name
                rows.append(row)
    return write_jsonl(tmp_path / "train.jsonl", rows)


def _facts(tmp_path: Path, data: Path) -> Path:
    """Repository facts for half the records: the high ones' files are core (high fan-in)."""
    rows = []
    for n, line in enumerate(data.read_text().splitlines()):
        row = json.loads(line)
        if n % 2:
            continue
        high = row["labels"]["consequence"] == "high"
        path = row["diff"].split(" b/", 1)[1].split("\n", 1)[0]
        rows.append({"id": row["id"], "files": [{"path": path, "fan_in": 40 if high else 1,
                                                 "fan_in_percentile": 99.0 if high else 50.0,
                                                 "core": high}]})
    return write_jsonl(tmp_path / "facts.jsonl", rows)


def test_training_reproduces_models_exactly_and_writes_cards(tmp_path):
    pytest.importorskip("sklearn")
    from cartriage.scoring import train

    data = _records(tmp_path)
    facts = _facts(tmp_path, data)
    logs = []
    first = train.train([data], tmp_path / "one", CONFIG, log=logs.append, facts_path=facts)
    second = train.train([data], tmp_path / "two", CONFIG, log=lambda _: None, facts_path=facts)
    assert first == second
    assert "grouped validation (5 folds" in logs[0] and "high->low" in logs[0]
    assert first["issues"] == 24 and first["records_with_repo_facts"] == 30
    assert {"diff", "issue text", "issue with its patch", "changes -> issues with patch",
            "issues -> changes", "difficulty, changes"} <= set(first["modes"])
    table = (tmp_path / "one" / "consequence-issue.neighbours.npy").read_bytes()
    assert table == (tmp_path / "two" / "consequence-issue.neighbours.npy").read_bytes()
    for name in ("consequence", "consequence-issue", "difficulty"):
        a = (tmp_path / "one" / f"{name}.onnx").read_bytes()
        b = (tmp_path / "two" / f"{name}.onnx").read_bytes()
        assert a == b and len(a) < 5 * 2**20
        card = json.loads((tmp_path / "one" / f"{name}.json").read_text())
        assert card["sha256"] == hashlib.sha256(a).hexdigest()
        assert card["training_data"]["files"][0]["sha256"] == hashlib.sha256(
            data.read_bytes()).hexdigest()
        assert card["feature_version"] and card["libraries"]["scikit-learn"]
        assert card["repo_facts"]["sha256"] == hashlib.sha256(facts.read_bytes()).hexdigest()
        # only the unit model has a weight for tests/docs-only units
        assert set(card["rule"]) == {"low", "high"} | ({"minor"} if name == "consequence"
                                                       else set())
        diff = card["validation"]["modes"]["diff"]["nested rule"]
        assert set(diff) >= {"confusion", "macro_f1", "recall_high", "precision_high",
                             "high_predicted_low", "brier", "ece"}
        if name in train.ENCODED:
            copied = tmp_path / "one" / card["encoder"]["folder"]
            assert card["encoder"]["sha256"] == encoder.source_sha256(copied)
            assert card["input_dim"] == card["coefficients"]["shape"][1]
        if name in train.RUBRIC_WORDS:
            assert card["rubric_words"] == {"scale": train.RUBRIC_WORDS[name],
                                            "names": list(features.RUBRIC_NAMES)}
        if name in train.NEIGHBOURS:
            assert card["neighbours"] == {
                "file": "consequence-issue.neighbours.npy", "k": train.NEIGHBOURS[name],
                "sha256": hashlib.sha256(table).hexdigest(), "issues": 24,
                "names": list(features.NEIGHBOUR_NAMES)}


def test_trained_models_serve_predictions_from_the_training_rows(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from cartriage.analysis import analyze
    from cartriage.scoring import model, predict_records, train

    data = _records(tmp_path)
    train.train([data], tmp_path / "models", CONFIG, log=lambda _: None)
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(tmp_path / "models"))
    model.clear_cache()
    try:
        rows = [json.loads(line) for line in data.read_text().splitlines()]
        lines = predict_records(rows, CONFIG)
        everyone = train.prepare(rows, CONFIG, analyze, folder=tmp_path / "models")
        # the run-time input rows of a high record (a migration) are its training rows
        (p,) = train.prepare([rows[-1]], CONFIG, analyze, folder=tmp_path / "models")
        change = to_change(rows[-1], CONFIG)
        text = features.read_text(change)
        scopes = [s for _, s in features.scopes(change, analyze(change, CONFIG))]
        units = model.load("consequence").rows(
            [features.consequence_features(text, s) for s in scopes], p.text_e)
        issue = model.load("consequence-issue").rows(
            [features.consequence_features(text, None)], p.text_e, features.rubric_words(change))
    finally:
        model.clear_cache()
    predicted = np.array([s.consequence.probabilities["high"] for s in lines])
    truth = np.array([row["labels"]["consequence"] == "high" for row in rows])
    assert predicted[truth].min() > predicted[~truth].max()
    assert np.array_equal(units, train.inputs("consequence", p.units_c, p.text_e, p.text_k))
    # the similar issues at run time are all the training issues, the record's own included
    assert np.allclose(issue, train.inputs("consequence-issue", p.text_c[None, :], p.text_e,
                                           p.text_k,
                                           train.shares("consequence-issue", [p], everyone)),
                       atol=1e-6)
    assert p.text_k[features.RUBRIC_NAMES.index("rubric word:migration")] == 1.0


def test_missing_train_extra_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "cartriage.scoring.train", raising=False)
    with pytest.raises(CartriageError) as info:
        importlib.import_module("cartriage.scoring.train")
    assert "pip install -e .[train]" in str(info.value) and "\n" not in str(info.value)


def test_unreadable_repo_facts_is_one_clear_line(tmp_path):
    pytest.importorskip("sklearn")
    from cartriage.errors import InputError
    from cartriage.scoring import train

    data = _records(tmp_path)
    broken = write_jsonl(tmp_path / "facts.jsonl", ["{not json"])
    with pytest.raises(InputError) as info:
        train.train([data], tmp_path / "out", CONFIG, log=lambda _: None,
                    facts_path=broken)
    assert "--repo-facts" in str(info.value) and "line 1" in str(info.value)
    with pytest.raises(InputError, match="--repo-facts .*cannot read"):
        train.train([data], tmp_path / "out", CONFIG, log=lambda _: None,
                    facts_path=tmp_path / "absent.jsonl")


@pytest.mark.parametrize(("line", "message"), [("{not json", "line 2: not JSON"),
                                               ("[1]", "line 2: not a JSON object")])
def test_malformed_training_data_is_one_clear_line(tmp_path, line, message):
    pytest.importorskip("sklearn")
    from cartriage.errors import InputError
    from cartriage.scoring import train

    data = write_jsonl(tmp_path / "data.jsonl", ['{"id": "a/b@1"}', line])
    with pytest.raises(InputError, match=f"--data .*{message}"):
        train.train([data], tmp_path / "out", CONFIG, log=lambda _: None)


def test_each_model_embeds_its_text_cut_and_graph_and_run_time_follows_its_card(tmp_path,
                                                                                monkeypatch):
    pytest.importorskip("sklearn")
    from cartriage.analysis import analyze
    from cartriage.scoring import model, predict, train

    monkeypatch.setattr(train, "EMBEDDED", {"consequence": ("title", 8, "integer"),
                                            "consequence-issue": ("text", 256, "float")})
    data = _records(tmp_path)
    train.train([data], tmp_path / "models", CONFIG, log=lambda _: None)
    card = json.loads((tmp_path / "models" / "consequence.json").read_text())
    assert (card["encoder"]["text"], card["encoder"]["max_tokens"],
            card["encoder"]["products"]) == ("title", 8, "integer")
    row = json.loads(data.read_text().splitlines()[-1])
    row["message"] = row["title"] + "\n\nA long description that the title-only model never reads."
    (p,) = train.prepare([row], CONFIG, analyze, folder=tmp_path / "models")
    change = to_change(row, CONFIG)
    title = encoder.encode([change.title], tmp_path / "models", max_tokens=8,
                           products="integer")[0]
    text = encoder.encode([features.embedded_text(change, "text")], tmp_path / "models",
                          products="float")[0]
    assert np.array_equal(p.diff_e, title) and np.array_equal(p.text_e, text)
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(tmp_path / "models"))
    model.clear_cache()
    try:
        found = predict.text_embeddings([change, change], {
            "consequence": (model.load("consequence"), [0]),
            "consequence-issue": (model.load("consequence-issue"), [1])})
    finally:
        model.clear_cache()
    assert np.allclose(found["consequence"][0], title, atol=1e-5)
    assert np.allclose(found["consequence-issue"][1], p.text_e, atol=1e-5)
    assert not found["consequence"][1].any() and not found["consequence-issue"][0].any()


def test_a_diff_model_without_the_embedding_never_loads_the_encoder(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from cartriage.analysis import analyze
    from cartriage.scoring import model, score, train

    monkeypatch.setattr(train, "ENCODED", {"consequence-issue": 1.0})
    data = _records(tmp_path)
    train.train([data], tmp_path / "models", CONFIG, log=lambda _: None)
    assert "encoder" not in json.loads((tmp_path / "models" / "consequence.json").read_text())
    row = json.loads(data.read_text().splitlines()[-1])
    change = to_change(row, CONFIG)
    issue = to_change({k: v for k, v in row.items() if k != "diff"}, CONFIG)
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(tmp_path / "models"))
    model.clear_cache()
    encoder.clear_cache()
    try:
        scores = score(change, analyze(change, CONFIG), CONFIG)
        loaded_for_the_diff = bool(encoder._LOADED)
        score(issue, analyze(issue, CONFIG), CONFIG)  # the text model still reads it
        loaded_for_the_issue = bool(encoder._LOADED)
    finally:
        model.clear_cache()
        encoder.clear_cache()
    assert scores.units and scores.change.tier == "high"
    assert (loaded_for_the_diff, loaded_for_the_issue) == (False, True)



def test_a_unit_is_scored_in_its_change_as_the_validation_scores_it(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from cartriage.analysis import analyze
    from cartriage.scoring import decision, model, score, train
    from cartriage.scoring.scores import TIERS

    data = _records(tmp_path)
    train.train([data], tmp_path / "models", CONFIG, log=lambda _: None)
    card = json.loads((tmp_path / "models" / "consequence.json").read_text())
    assert card["change_share"] == train.CHANGE_SHARE["consequence"] > 0
    # a migration, a search fix beside it and a docs note
    row = record("mixed", "Add migration dropping the sessions table", {
        "db/migrations/0009_sessions.py": ["op.drop_table('sessions')"],
        "app/search/view.py": ["def search(q):", "    if not q:", "        return []"],
        "docs/sessions.md": ["Sessions are gone"]}, labels=("high", "medium"))
    (p,) = train.prepare([row], CONFIG, analyze, folder=tmp_path / "models")
    change = to_change(row, CONFIG)
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(tmp_path / "models"))
    model.clear_cache()
    try:
        scores = score(change, analyze(change, CONFIG), CONFIG)
        found = model.load("consequence")
        pulled = train.in_change(p, p.units_c)
        expected = found.probabilities(train.inputs("consequence", pulled, p.diff_e, p.text_k))
        alone = found.probabilities(train.inputs("consequence", p.units_c, p.diff_e, p.text_k))
    finally:
        model.clear_cache()
    got = {u.unit_id: [u.consequence.probabilities[t] for t in TIERS] for u in scores.units}
    search = next(k for k, u in enumerate(scores.units) if "search" in u.unit_id)
    docs = next(k for k, u in enumerate(scores.units) if "docs/" in u.unit_id)
    assert p.minor.tolist() == [k == docs for k in range(len(p.minor))]
    expected[docs] = decision.minor_unit(expected[docs])
    assert np.allclose(list(got.values()), expected, atol=1e-4)
    # the search unit reads part of the migration beside it: its p(high) rises; the docs unit,
    # decided on its own, keeps its own features
    assert expected[search, 2] > alone[search, 2] + 1e-3
    assert np.array_equal(pulled[docs], p.units_c[docs])
