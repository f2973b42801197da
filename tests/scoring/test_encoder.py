import hashlib
import json
import shutil

import numpy as np
import pytest

from cartriage.errors import ModelError
from cartriage.scoring import encoder
from cartriage.scoring.model import model_dir


@pytest.fixture(autouse=True)
def _fresh():
    encoder.clear_cache()
    yield
    encoder.clear_cache()


def test_embeddings_are_unit_vectors_and_follow_meaning():
    texts = ["Drop the sessions table in a database migration",
             "Schema migration that deletes a table of user sessions",
             "Fix a typo in the README", ""]
    vectors = encoder.encode(texts, model_dir())
    assert vectors.shape == (4, encoder.DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    alone = encoder.encode([texts[2]], model_dir())[0]
    assert np.allclose(alone, vectors[2], atol=1e-4)  # batching and padding change nothing
    assert encoder.encode([], model_dir()).shape == (0, encoder.DIMENSION)


def test_batches_group_similar_lengths_within_the_limits():
    lengths = [3, 250, 40, 4, 256, 5, 41, 6, 30] + [10] * 30
    groups = encoder.batches(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        width = max(lengths[i] for i in group)
        assert len(group) <= encoder.BATCH
        assert len(group) == 1 or width * len(group) <= encoder.BATCH_TOKENS
    assert [1] in groups and [4] in groups  # long texts run alone
    assert max(len(g) for g in groups) == encoder.BATCH  # short ones share a batch


def test_texts_encoded_in_batches_equal_texts_encoded_one_at_a_time():
    texts = [f"Fix {n} in the parser" for n in range(20)] + [
        "Rewrite the session store " * k for k in (5, 12, 30, 60)] + ["", "x"]
    together = encoder.encode(texts, model_dir())
    alone = np.vstack([encoder.encode([t], model_dir()) for t in texts])
    assert len(encoder.batches([len(t.split()) for t in texts])) < len(texts)
    assert np.abs(together - alone).max() < 1e-4


def test_long_text_is_cut_not_refused():
    vector = encoder.encode(["word " * 5000], model_dir())[0]
    assert abs(np.linalg.norm(vector) - 1) < 1e-4


def test_missing_or_replaced_encoder_is_one_clear_line(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(model_dir() / encoder.FOLDER, folder / encoder.FOLDER)
    with pytest.raises(ModelError) as info:  # the card names another upstream encoder
        encoder.encode(["x"], folder, sha256="0" * 64)
    assert "sha256" in str(info.value) and "\n" not in str(info.value)
    for name in ("model.onnx", "weights.bin"):
        broken = folder / encoder.FOLDER / name
        saved = broken.read_bytes()
        broken.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
        with pytest.raises(ModelError, match=f"{name}: does not match the sha256"):
            encoder.encode(["x"], folder)
        broken.write_bytes(saved)
    card_path = folder / encoder.FOLDER / "encoder.json"
    card = json.loads(card_path.read_text())
    tables = card.pop("arrays")  # where the embedding tables lie in weights.bin
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="encoder.json: incomplete or inconsistent"):
        encoder.encode(["x"], folder)
    card["arrays"] = tables
    card["sha256"]["model.onnx"] = hashlib.sha256(b"not a graph").hexdigest()
    card_path.write_text(json.dumps(card))
    (folder / encoder.FOLDER / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        encoder.encode(["x"], folder)
    shutil.rmtree(folder / encoder.FOLDER)
    with pytest.raises(ModelError, match="sentence encoder unreadable"):
        encoder.encode(["x"], folder)


def test_derived_encoder_matches_its_source_card():
    where = model_dir() / encoder.FOLDER
    from cartriage.scoring import model

    assert encoder.source_sha256(where) == model.load("consequence").card["encoder"]["sha256"]


def test_a_text_is_cut_where_the_caller_says():
    long = "word " * 100
    cut = encoder.encode([long], model_dir(), max_tokens=16)[0]
    # 16 tokens: [CLS], 14 words, [SEP]
    assert np.allclose(cut, encoder.encode(["word " * 14], model_dir())[0], atol=1e-6)
    assert not np.allclose(cut, encoder.encode([long], model_dir())[0], atol=1e-3)
