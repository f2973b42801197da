import json
import shutil

import numpy as np
import pytest

from cartriage.errors import ModelError
from cartriage.scoring import encoder, features, model


@pytest.fixture
def models(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    shutil.copytree(model.model_dir(), folder)
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(folder))
    model.clear_cache()
    yield folder
    model.clear_cache()


def test_shipped_models_load_and_match_the_feature_version(models):
    for name in model.NAMES:
        loaded = model.load(name)
        assert loaded.card["feature_version"] == features.FEATURE_VERSION
        assert loaded.path == models / f"{name}.onnx"


def _one_line_error(name, folder):
    with pytest.raises(ModelError) as info:
        model.load(name)
    message = str(info.value)
    assert "\n" not in message and "cartriage train" in message
    return message


def test_missing_model_names_the_path(models):
    (models / "consequence.onnx").unlink()
    message = _one_line_error("consequence", models)
    assert str(models / "consequence.onnx") in message and "missing" in message


def test_corrupt_model_is_refused(models):
    path = models / "difficulty.onnx"
    path.write_bytes(path.read_bytes()[:500])
    assert "sha256" in _one_line_error("difficulty", models)


def test_corrupt_model_with_matching_card_is_refused(models):
    import hashlib

    path = models / "difficulty.onnx"
    path.write_bytes(b"not an onnx graph")
    card = json.loads((models / "difficulty.json").read_text())
    card["sha256"] = hashlib.sha256(b"not an onnx graph").hexdigest()
    (models / "difficulty.json").write_text(json.dumps(card))
    assert "not a loadable ONNX model" in _one_line_error("difficulty", models)


def test_feature_version_mismatch_is_refused(models):
    card_path = models / "consequence.json"
    card = json.loads(card_path.read_text())
    card["feature_version"] = "cartriage-features-0"
    card_path.write_text(json.dumps(card))
    message = _one_line_error("consequence", models)
    assert "cartriage-features-0" in message and features.FEATURE_VERSION in message


def test_missing_or_broken_card_is_refused(models):
    (models / "consequence-issue.json").write_text("{not json")
    assert "model card unreadable" in _one_line_error("consequence-issue", models)
    (models / "consequence-issue.json").unlink()
    assert "model card missing" in _one_line_error("consequence-issue", models)


def test_top_features_are_the_largest_positive_pulls_toward_the_tier():
    for name in ("consequence-issue", "difficulty"):  # embedding, rubric words; hashed tokens
        found = model.load(name)
        width, size = found.width, found.coefficients.shape[1]
        rng = np.random.default_rng(7)
        row = rng.normal(size=size).astype(np.float32)
        used = np.flatnonzero(np.abs(found.coefficients[:, :width]).sum(axis=0))
        picked = rng.choice(used, min(len(used), 30), replace=False).tolist()
        names = {j: f"feature {j}" for j in picked}
        feats = features.Features(np.zeros(width, dtype=np.float32), names)
        for tier in range(3):
            pull = found.coefficients[tier] - found.coefficients.mean(axis=0)
            expected = [(n, float(row[j] * pull[j])) for j, n in names.items()]
            end = width + (encoder.DIMENSION if found.reads_embedding else 0)
            if found.reads_embedding:
                expected.append(("text (sentence embedding)",
                                 float(row[width:end] @ pull[width:end])))
            tail = (features.RUBRIC_NAMES if found.reads_rubric_words else ()) + (
                features.NEIGHBOUR_NAMES if found.neighbours else ())
            expected += [(n, float(row[end + j] * pull[end + j])) for j, n in enumerate(tail)]
            expected = sorted((kv for kv in expected if kv[1] > 0), key=lambda kv: -kv[1])[:5]
            assert expected  # random entries: some pull toward each tier
            assert found.top_features(feats, tier, row) == tuple(
                (n, round(v, 4)) for n, v in expected)


@pytest.mark.parametrize("entry", [{"max_tokens": 0}, {"max_tokens": "64"}, {"max_tokens": 513},
                                   {"max_tokens": 64, "text": "diff"},
                                   {"max_tokens": 64, "products": "int4"}])
def test_an_encoder_entry_without_a_known_text_and_cut_is_refused(models, entry):
    card_path = models / "consequence.json"
    card = json.loads(card_path.read_text())
    card["encoder"].update(entry)
    card_path.write_text(json.dumps(card))
    assert "encoder entry" in _one_line_error("consequence", models)


@pytest.mark.parametrize("share", ["half", -0.5, 1.5, True, None])
def test_a_change_share_outside_0_to_1_is_refused(models, share):
    card_path = models / "consequence.json"
    card = json.loads(card_path.read_text())
    card["change_share"] = share
    card_path.write_text(json.dumps(card))
    assert "change_share" in _one_line_error("consequence", models)


def test_a_corrupt_or_missing_similar_issue_table_is_refused(models):
    table = models / "consequence-issue.neighbours.npy"
    table.write_bytes(table.read_bytes()[:-4])
    assert "sha256" in _one_line_error("consequence-issue", models)
    table.unlink()
    assert "similar-issue table unreadable" in _one_line_error("consequence-issue", models)


@pytest.mark.parametrize("tiers", [None, 3])
def test_an_empty_or_mistiered_similar_issue_table_is_refused(models, tiers):
    """Even with a card whose sha256 matches it: a one-line error, not a traceback."""
    import hashlib
    import io

    table = models / "consequence-issue.neighbours.npy"
    if tiers is None:
        table.write_bytes(b"")
    else:
        rows = np.load(table)
        rows[0, -1] = tiers
        buffer = io.BytesIO()
        np.save(buffer, rows)
        table.write_bytes(buffer.getvalue())
    card_path = models / "consequence-issue.json"
    card = json.loads(card_path.read_text())
    card["neighbours"]["sha256"] = hashlib.sha256(table.read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))
    assert "neighbours entry or table unusable" in _one_line_error("consequence-issue", models)
