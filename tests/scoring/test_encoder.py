import hashlib
import json
import shutil
from pathlib import Path

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
    assert encoder.encode([], model_dir()).shape == (0, encoder.DIMENSION)


def test_a_text_embeds_the_same_whatever_it_is_encoded_with():
    """Activations are quantised with one scale a pass (models/encoder/derive.py): each text
    runs alone, so its neighbours in a call (or their padding) never move its embedding."""
    texts = [f"Fix {n} in the parser" for n in range(20)] + [
        "Rewrite the session store " * k for k in (5, 12, 30, 60)] + ["", "x"]
    together = encoder.encode(texts, model_dir(), products="integer")
    alone = np.vstack([encoder.encode([t], model_dir(), products="integer") for t in texts])
    assert np.array_equal(together, alone)
    assert np.array_equal(encoder.encode(texts[::-1], model_dir(), products="integer"),
                          together[::-1])


def test_the_two_graphs_embed_alike_but_not_the_same():
    """The integer graph's embeddings are the float graph's up to activation rounding: close
    (cosine above 0.97 on the 2,810 training texts), not equal, so a card names the one its
    model was trained on."""
    texts = ["Drop the sessions table in a database migration", "Fix a typo in the README",
             "Check the token's signature before trusting its claims " * 6]
    whole = encoder.encode(texts, model_dir(), products="integer")
    floats = encoder.encode(texts, model_dir(), products="float")
    cosines = (whole * floats).sum(axis=1)
    assert cosines.min() > 0.97 and not np.array_equal(whole, floats)
    assert np.array_equal(floats, encoder.encode(texts, model_dir(), products="float"))


def test_long_text_is_cut_not_refused():
    vector = encoder.encode(["word " * 5000], model_dir())[0]
    assert abs(np.linalg.norm(vector) - 1) < 1e-4


def test_missing_or_replaced_encoder_is_one_clear_line(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(model_dir() / encoder.FOLDER, folder / encoder.FOLDER)
    with pytest.raises(ModelError) as info:  # the card names another upstream encoder
        encoder.encode(["x"], folder, sha256="0" * 64)
    assert "sha256" in str(info.value) and "\n" not in str(info.value)
    for name, products in (("model.onnx", "integer"), ("model-float.onnx", "float"),
                           ("weights.bin", "float"), ("vocab.txt", "integer"),
                           ("tokenizer-settings.json", "float")):
        broken = folder / encoder.FOLDER / name
        saved = broken.read_bytes()
        broken.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
        with pytest.raises(ModelError, match=f"{name}: does not match the sha256"):
            encoder.encode(["x"], folder, products=products)
        broken.write_bytes(saved)
        encoder.clear_cache()
    with pytest.raises(ModelError, match="no 'int4' graph"):
        encoder.encode(["x"], folder, products="int4")
    card_path = folder / encoder.FOLDER / "encoder.json"
    card = json.loads(card_path.read_text())
    digest = card["sha256"].pop("weights.bin")
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="encoder.json: incomplete"):
        encoder.encode(["x"], folder)
    card["sha256"]["weights.bin"] = digest
    card["sha256"]["model.onnx"] = hashlib.sha256(b"not a graph").hexdigest()
    card_path.write_text(json.dumps(card))
    (folder / encoder.FOLDER / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="model.onnx: not a loadable ONNX model"):
        encoder.encode(["x"], folder, products="integer")
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


def _derive_module():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "models" / "encoder" / "derive.py"
    spec = importlib.util.spec_from_file_location("derive", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derive_runs_matmuls_on_the_int8_weights_and_keeps_tables_int8(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    derive = _derive_module()
    rng = np.random.default_rng(1)
    table, table_scale = rng.integers(-127, 128, (50, 8), dtype=np.int8), rng.random((50, 1),
                                                                                     np.float32)
    weight, weight_scale = rng.integers(-127, 128, (8, 4), dtype=np.int8), rng.random((1, 4),
                                                                                       np.float32)
    floats = [numpy_helper.from_array(np.multiply(table, table_scale, dtype=np.float32), "table"),
              numpy_helper.from_array(np.multiply(weight, weight_scale, dtype=np.float32), "w")]
    graph = helper.make_model(helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["rows"]),
         helper.make_node("MatMul", ["rows", "w"], ["last_hidden_state"])], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, None, 4])],
        floats), opset_imports=[helper.make_opsetid("", 17)])
    blob, arrays = derive.derive(graph, [(table, table_scale), (weight, weight_scale)])
    floats = derive.float_products(graph)
    assert [n.op_type for n in graph.graph.node] == ["Gather", "Cast", "Gather", "Mul",
                                                     "DynamicQuantizeMatMul"]
    assert [n.op_type for n in floats.graph.node] == ["Gather", "Cast", "Gather", "Mul",
                                                      "Cast", "Mul", "MatMul"]
    assert {a["dtype"] for a in arrays} == {"int8", "float32"}  # no float copy of any weight
    assert all(i.data_location == TensorProto.EXTERNAL for i in graph.graph.initializer)
    files = {"model.onnx": graph.SerializeToString(),
             "model-float.onnx": floats.SerializeToString(), "weights.bin": blob}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "encoder.json").write_text(json.dumps({
        "arrays": arrays, "graphs": {"integer": "model.onnx", "float": "model-float.onnx"},
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}))
    ids = np.array([[3, 17, 42, 0, 49]], dtype=np.int64)
    exact = np.multiply(table, table_scale)[ids] @ np.multiply(weight, weight_scale)
    got = encoder.session(tmp_path, products="integer").run(None, {"input_ids": ids})[0]
    # uint8 activations (one scale for the pass): within a few steps of 1/255 of the range
    assert np.abs(got - exact).max() < 0.02 * np.abs(exact).max()
    got = encoder.session(tmp_path, products="float").run(None, {"input_ids": ids})[0]
    assert np.allclose(got, exact, rtol=1e-5, atol=1e-6)  # the upstream's float32 products


def test_prepacking_is_chosen_by_the_loading_call_and_moves_no_embedding():
    """A plan's single text loads the session unpacked (faster to load), a batch prepacked
    (faster a pass); the embeddings are the same either way."""
    texts = ["Check the token's signature before trusting its claims"] * encoder.PREPACK_TEXTS
    found = {}
    for wanted in (texts[:1], texts):
        encoder.clear_cache()
        vectors = encoder.encode(wanted, model_dir(), products="integer")
        ((_, loaded),) = encoder._LOADED.values()
        try:
            unpacked = loaded.get_session_options().get_session_config_entry(
                "session.disable_prepacking")
        except RuntimeError:  # onnxruntime: no such entry, the default (prepacked)
            unpacked = None
        found[len(wanted)] = unpacked, vectors
    assert found[1][0] == "1" and found[len(texts)][0] is None
    assert np.array_equal(found[1][1][0], found[len(texts)][1][0])
    assert np.array_equal(found[len(texts)][1][0], found[len(texts)][1][-1])


def test_the_derived_tokenizer_cuts_texts_into_the_upstream_ids():
    """tokenizer-settings.json and vocab.txt (derive.split_tokenizer) load faster than the
    upstream tokenizer.json and must give its ids (derive.py --texts checks every training
    text: the same on all 7,280 distinct titles, messages and diffs)."""
    pytest.importorskip("onnx")  # derive.py's
    from tokenizers import Tokenizer

    where = model_dir() / encoder.FOLDER
    upstream, derived = Tokenizer.from_file(str(where / "tokenizer.json")), encoder.tokenizer(where)
    for found in (upstream, derived):
        found.no_padding()
        found.no_truncation()
    derive = _derive_module()
    texts = derive.TRICKY + [Path(__file__).read_text(encoding="utf-8"),
                             (where / "NOTICE.txt").read_text(encoding="utf-8")]
    for text in texts:
        assert derived.encode(text).ids == upstream.encode(text).ids, text[:60]
    split = derive.split_tokenizer((where / "tokenizer.json").read_bytes())
    assert split == {name: (where / name).read_bytes() for name in split}


def test_tokenizer_files_are_names_in_the_folder_and_a_missing_one_is_named(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(model_dir() / encoder.FOLDER, folder / encoder.FOLDER)
    card_path = folder / encoder.FOLDER / "encoder.json"
    card = json.loads(card_path.read_text())
    card["tokenizer"]["vocab"] = "../vocab.txt"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="encoder.json: incomplete .*not a file name in the"):
        encoder.tokenizer(folder / encoder.FOLDER)
    card["tokenizer"]["vocab"] = "vocab.txt"
    card["graphs"]["integer"] = "../elsewhere.onnx"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="encoder.json: incomplete .*not a file name in the"):
        encoder.session(folder / encoder.FOLDER, products="integer")
    card["tokenizer"]["vocab"] = "vocab.txt"
    card_path.write_text(json.dumps(card))
    (folder / encoder.FOLDER / "vocab.txt").unlink()
    with pytest.raises(ModelError, match=r"vocab\.txt: sentence encoder unreadable"):
        encoder.tokenizer(folder / encoder.FOLDER)


def test_encoder_files_are_replaced_whole_not_rewritten_under_a_running_map(tmp_path):
    """onnxruntime maps weights.bin: a file truncated in place under the map ends the process
    (SIGBUS); copied again by `cartriage train`, a new file replaces it and the map keeps the
    old bytes."""
    import mmap

    from cartriage.scoring import train

    source = tmp_path / "source"
    shutil.copytree(model_dir() / encoder.FOLDER, source / encoder.FOLDER)
    out = tmp_path / "out"
    train._copy_encoder(source, out)
    weights = out / encoder.FOLDER / "weights.bin"
    (source / encoder.FOLDER / "weights.bin").write_bytes(b"other")  # retrained, shorter
    with weights.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
        head, inode = view[:64], weights.stat().st_ino
        train._copy_encoder(source, out)
        assert weights.stat().st_ino != inode and view[:64] == head
    assert weights.read_bytes() == b"other"
    assert sorted(p.name for p in (out / encoder.FOLDER).iterdir()) == sorted(
        p.name for p in (source / encoder.FOLDER).iterdir() if p.is_file())  # nothing left over
    with pytest.raises(IsADirectoryError):
        encoder.replace_file(tmp_path, b"x")  # a failed replace leaves no temporary file
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.*"))
