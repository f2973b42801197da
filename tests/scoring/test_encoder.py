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


def test_long_text_is_cut_not_refused():
    vector = encoder.encode(["word " * 5000], model_dir())[0]
    assert abs(np.linalg.norm(vector) - 1) < 1e-4


def test_missing_or_replaced_encoder_is_one_clear_line(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(model_dir() / encoder.FOLDER, folder / encoder.FOLDER)
    (folder / encoder.FOLDER / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError) as info:
        encoder.encode(["x"], folder, sha256="0" * 64)
    assert "sha256" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        encoder.encode(["x"], folder)
    shutil.rmtree(folder / encoder.FOLDER)
    with pytest.raises(ModelError, match="sentence encoder unreadable"):
        encoder.encode(["x"], folder)
