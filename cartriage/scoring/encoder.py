"""The sentence encoder: all-MiniLM-L6-v2 (int8 ONNX) turns text into a 384-number embedding.

Shipped in `models/encoder/` (model.onnx, weights.bin, encoder.json, tokenizer.json, LICENSE.txt,
NOTICE.txt; Apache-2.0, see NOTICE.txt): the upstream int8 graph optimised once by
models/encoder/derive.py, so that a session loads without folding and fusing the graph again.
Run with onnxruntime and the `tokenizers` library, both imported here only when the first text
is encoded: a plan served from the score cache never loads the encoder.
Embeddings are mean-pooled over the tokens and L2-normalised (the sentence-transformers recipe).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from cartriage.errors import ModelError

FOLDER = "encoder"
DIMENSION = 384
MAX_TOKENS = 256  # longer texts are cut: the start of a description or diff carries its gist
MAX_POSITIONS = 512  # the encoder's position embeddings: no text can be cut longer
# Texts run in batches of similar length (sorted), padded to the batch's longest: at most
# BATCH texts and BATCH_TOKENS padded tokens a batch. Measured (benchmarks/bench_encoder.py):
# short texts gain from batching, long ones do not (attention grows with the square of the
# width) and padding costs as much as real tokens, so long texts run alone.
BATCH = 16
BATCH_TOKENS = 256
# onnxruntime can prepack the MatMul weights when the session is made: +45 ms and +40 MB at load,
# each pass 3-6 ms faster (20 against 27 ms for 56 tokens). It pays from about ten texts, so it
# is done when the first call encodes at least this many (a batch), not for one plan's text.
PREPACK_TEXTS = 10
_LOADED: dict[str, tuple[Any, Any]] = {}


def encode(texts: list[str], folder: Path, sha256: str | None = None,
           max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """(len(texts), DIMENSION) float32 embeddings; an empty text embeds as a single space.

    `sha256` (from the consequence model card) is checked once when the encoder loads;
    `max_tokens`: where each text is cut (a model card's `encoder.max_tokens`)."""
    out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
    if not texts:
        return out
    tokenizer, session = _load(folder, sha256, prepack=len(texts) >= PREPACK_TEXTS)
    tokenizer.enable_truncation(max_tokens)
    encodings = tokenizer.encode_batch([t if t.strip() else " " for t in texts])
    for rows in batches([len(e.ids) for e in encodings]):
        batch = [encodings[i] for i in rows]
        width = max(len(e.ids) for e in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, e in enumerate(batch):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        out[rows] = pooled / norms
    return out


def batches(lengths: list[int]) -> list[list[int]]:
    """Indices of texts by token count, grouped: shortest first, each group at most BATCH texts
    and BATCH_TOKENS tokens once padded to its longest (a longer text runs alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < BATCH and lengths[i] * (len(out[-1]) + 1) <= BATCH_TOKENS:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def clear_cache() -> None:
    _LOADED.clear()


def _load(folder: Path, sha256: str | None, prepack: bool) -> tuple[Any, Any]:
    key = str(folder)
    if key in _LOADED:
        return _LOADED[key]
    where = folder / FOLDER
    try:
        tokenizer_json = (where / "tokenizer.json").read_text(encoding="utf-8")
    except OSError as exc:
        raise _unreadable(where, exc) from None
    from tokenizers import Tokenizer

    session_ = session(where, sha256, prepack)
    try:
        tokenizer = Tokenizer.from_str(tokenizer_json)
    except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
        raise ModelError(f"{where / 'tokenizer.json'}: not a tokenizer ({exc})") from None
    tokenizer.no_padding()
    _LOADED[key] = (tokenizer, session_)
    return _LOADED[key]


def session(where: Path, sha256: str | None = None, prepack: bool = True) -> Any:
    """The onnxruntime session of the encoder in folder `where` (models/encoder/derive.py made
    its files): each file checked against encoder.json, the MatMul weights multiplied back from
    int8 and scale, the int8 embedding tables handed over as they lie in weights.bin, the graph
    run as optimised. `sha256`: the upstream encoder the model card
    names (its embeddings are the ones the models were trained on); `prepack`: see
    PREPACK_TEXTS."""
    try:
        card = json.loads((where / "encoder.json").read_text(encoding="utf-8"))
        graph = (where / "model.onnx").read_bytes()
        blob = (where / "weights.bin").read_bytes()
    except OSError as exc:
        raise _unreadable(where, exc) from None
    except ValueError:
        raise ModelError(f"{where / 'encoder.json'}: not JSON; reinstall cartriage or "
                         "restore models/encoder/") from None
    try:
        if sha256 is not None and card["source"]["sha256"] != sha256:
            raise ModelError(f"{where / 'encoder.json'}: derived from another encoder than the "
                             "one whose sha256 the consequence model card names")
        for name, data in (("model.onnx", graph), ("weights.bin", blob)):
            if hashlib.sha256(data).hexdigest() != card["sha256"][name]:
                raise ModelError(f"{where / name}: does not match the sha256 in encoder.json "
                                 "(corrupt or replaced)")
        weights = _dequantised(blob, card["weights"])
        weights.update({a["name"]: _array(blob, a["offset"], a["shape"], np.dtype(a["dtype"]))
                        for a in card["arrays"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{where / 'encoder.json'}: incomplete or inconsistent with "
                         f"weights.bin ({exc.__class__.__name__}: {exc})") from None
    from cartriage.scoring.model import onnx_session

    return onnx_session(graph, lambda why: ModelError(f"{where / 'model.onnx'}: {why}"),
                        optimized=True, initializers=weights, prepack=prepack)


def source_sha256(where: Path) -> str:
    """The sha256 of the upstream encoder the one in folder `where` was derived from (what a
    model card names: the embeddings it was trained on)."""
    try:
        return json.loads((where / "encoder.json").read_text(encoding="utf-8"))["source"]["sha256"]
    except OSError as exc:
        raise _unreadable(where, exc) from None
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{where / 'encoder.json'}: no source sha256; reinstall cartriage or "
                         "restore models/encoder/") from None


def _dequantised(blob: bytes, layout: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each MatMul weight of `layout`: its int8 values times its scales, as float32 (the
    products the upstream graph computes), all in one buffer (one allocation, not 36)."""
    sizes = [math.prod(w["shape"]) for w in layout]
    buffer = np.empty(sum(sizes), dtype=np.float32)
    out, at = {}, 0
    for w, size in zip(layout, sizes, strict=True):
        out[w["name"]] = np.multiply(
            _array(blob, w["offset"], w["shape"], np.int8),
            _array(blob, w["scale_offset"], w["scale_shape"], np.float32),
            out=buffer[at:at + size].reshape(w["shape"]), dtype=np.float32)
        at += size
    return out


def _array(blob: bytes, offset: int, shape: list[int], dtype) -> np.ndarray:
    count = int(np.prod(shape))
    return np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape)


def _unreadable(where: Path, exc: OSError) -> ModelError:
    return ModelError(f"{where}: sentence encoder unreadable ({exc.strerror or exc}); "
                      "reinstall cartriage or restore models/encoder/")
