"""The sentence encoder: all-MiniLM-L6-v2 (int8 ONNX) turns text into a 384-number embedding.

Shipped in `models/encoder/` (model.onnx, model-float.onnx, weights.bin, encoder.json,
tokenizer.json, tokenizer-settings.json, vocab.txt, LICENSE.txt, NOTICE.txt; Apache-2.0, see
NOTICE.txt): the upstream int8 graph optimised once by models/encoder/derive.py, so that a
session loads without folding and fusing the graph again, and the upstream tokenizer split in
two files that load faster (the same ids). Two graphs share its weights (PRODUCTS):
"integer" multiplies the int8 weights by activations quantised at run time (2-4x faster a
pass), "float" in float32 as the upstream does; a model card's `encoder.products` names the
one the model was trained on.
Run with onnxruntime and the `tokenizers` library, both imported here only when the first text
is encoded: a plan served from the score cache never loads the encoder.
Embeddings are mean-pooled over the tokens and L2-normalised (the sentence-transformers recipe).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cartriage.errors import ModelError

FOLDER = "encoder"
DIMENSION = 384
MAX_TOKENS = 256  # longer texts are cut: the start of a description or diff carries its gist
MAX_POSITIONS = 512  # the encoder's position embeddings: no text can be cut longer
# The graphs' matrix products, by name (encoder.json's `graphs` names each one's file), and the
# graph of a card without `products` (trained before the integer graph, on float embeddings).
PRODUCTS = ("integer", "float")
UNNAMED_PRODUCTS = "float"
# Each text runs alone: the integer graph quantises its activations with one scale a tensor
# (models/encoder/derive.py), so a text padded into a batch would embed differently from the
# same text alone; batches gained nothing measurable with the integer products either.
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}
# The session is prepacked when the call that loads it encodes at least this many texts (a
# batch, training); a plan's single text loads faster unpacked (docs/scoring.md, "Speed and size").
PREPACK_TEXTS = 8


def encode(texts: list[str], folder: Path, sha256: str | None = None,
           max_tokens: int = MAX_TOKENS, products: str = UNNAMED_PRODUCTS) -> np.ndarray:
    """(len(texts), DIMENSION) float32 embeddings; an empty text embeds as a single space.

    `sha256` (from the consequence model card) is checked once when the encoder loads;
    `max_tokens`: where each text is cut (a model card's `encoder.max_tokens`); `products`:
    which graph (PRODUCTS; a card's `encoder.products`, float when it names none). The call
    that loads the graph decides whether its weights are prepacked (PREPACK_TEXTS)."""
    out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
    if not texts:
        return out
    tokenizer, session = _load(folder, sha256, products, len(texts) >= PREPACK_TEXTS)
    tokenizer.enable_truncation(max_tokens)
    encodings = tokenizer.encode_batch([t if t.strip() else " " for t in texts])
    for row, encoding in enumerate(encodings):
        ids = np.array([encoding.ids], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                    "token_type_ids": np.zeros_like(ids)})[0][0]
        pooled = hidden.mean(axis=0)
        out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
    return out


def clear_cache() -> None:
    _LOADED.clear()


def _load(folder: Path, sha256: str | None, products: str, prepack: bool) -> tuple[Any, Any]:
    key = (str(folder), products)
    if key not in _LOADED:
        where = folder / FOLDER
        session_ = session(where, sha256, products, prepack)
        _LOADED[key] = (tokenizer(where), session_)
    return _LOADED[key]


def session(where: Path, sha256: str | None = None, products: str = UNNAMED_PRODUCTS,
            prepack: bool = True) -> Any:
    """The onnxruntime session of the encoder in folder `where` (models/encoder/derive.py made
    its files) whose matrix products are `products` (PRODUCTS): each file checked against
    encoder.json, the graph run as optimised, loaded from its file so that onnxruntime reads
    the int8 weights and tables from weights.bin itself (no copy handed over: 2-3x faster to
    load). `sha256`: the upstream encoder the model card names (its embeddings are the ones the
    models were trained on). `prepack`: onnxruntime packs the MatMul weights at load (about
    12 ms more, 1.5-2 ms less a pass: worth it from PREPACK_TEXTS texts)."""
    card = _card(where)
    try:
        graph_file = card["graphs"][products]
    except (KeyError, TypeError):
        raise ModelError(f"{where / 'encoder.json'}: no {products!r} graph; reinstall "
                         "cartriage or restore models/encoder/") from None
    try:
        if sha256 is not None and card["source"]["sha256"] != sha256:
            raise ModelError(f"{where / 'encoder.json'}: derived from another encoder than the "
                             "one whose sha256 the consequence model card names")
    except (KeyError, TypeError) as exc:
        raise _incomplete(where, exc) from None
    _check(where, card, (graph_file, "weights.bin"))
    from cartriage.scoring.model import onnx_session

    return onnx_session(where / graph_file, lambda why: ModelError(f"{where / graph_file}: {why}"),
                        optimized=True, prepack=prepack)


def tokenizer(where: Path) -> Any:
    """The encoder's WordPiece tokenizer (no padding), as derive.py split the upstream
    tokenizer.json: its settings, whose vocabulary holds only the special tokens, then the
    30,522-word vocabulary from a plain list, one word a line in id order: the same ids on every
    text, and twice as fast to load as the whole JSON. Both files checked against encoder.json."""
    card = _card(where)
    try:
        names = (card["tokenizer"]["settings"], card["tokenizer"]["vocab"])
    except (KeyError, TypeError) as exc:
        raise _incomplete(where, exc) from None
    _check(where, card, names)  # the very files loaded below
    settings, vocab = where / names[0], where / names[1]
    from tokenizers import Tokenizer, models

    try:
        found = Tokenizer.from_str(settings.read_text(encoding="utf-8"))
        upstream = found.model
        found.model = models.WordPiece.from_file(
            str(vocab), unk_token=upstream.unk_token,
            continuing_subword_prefix=upstream.continuing_subword_prefix,
            max_input_chars_per_word=upstream.max_input_chars_per_word)
    except OSError as exc:
        raise _unreadable(where, exc) from None
    except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
        raise ModelError(f"{settings}: not a tokenizer ({exc})") from None
    found.no_padding()
    return found


def source_sha256(where: Path) -> str:
    """The sha256 of the upstream encoder the one in folder `where` was derived from (what a
    model card names: the embeddings it was trained on)."""
    try:
        return _card(where)["source"]["sha256"]
    except (KeyError, TypeError):
        raise ModelError(f"{where / 'encoder.json'}: no source sha256; reinstall cartriage or "
                         "restore models/encoder/") from None


def _card(where: Path) -> dict[str, Any]:
    """encoder.json: the encoder's files, their sha256, where each array lies in weights.bin."""
    try:
        card = json.loads((where / "encoder.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise _unreadable(where, exc) from None
    except ValueError:
        card = None
    if not isinstance(card, dict):
        raise ModelError(f"{where / 'encoder.json'}: not a JSON object; reinstall cartriage or "
                         "restore models/encoder/")
    return card


def _check(where: Path, card: dict[str, Any], names: tuple[str, ...]) -> None:
    """Each named file of folder `where` (a name in it, not a path elsewhere) matches its
    sha256 in encoder.json."""
    for name in names:
        if not isinstance(name, str) or Path(name).name != name:
            raise _incomplete(where, TypeError(f"{name!r} is not a file name in the folder"))
        try:
            digest = file_sha256(where / name)
            wanted = card["sha256"][name]
        except OSError as exc:
            raise _unreadable(where, exc) from None
        except (KeyError, TypeError) as exc:
            raise _incomplete(where, exc) from None
        if digest != wanted:
            raise ModelError(f"{where / name}: does not match the sha256 in encoder.json "
                             "(corrupt or replaced)")


def file_sha256(path: Path) -> str:
    """The file's sha256, read a megabyte at a time (no copy of a 22 MB file held)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _incomplete(where: Path, exc: Exception) -> ModelError:
    return ModelError(f"{where / 'encoder.json'}: incomplete ({exc.__class__.__name__}: {exc}); "
                      "reinstall cartriage or restore models/encoder/")


def _unreadable(where: Path, exc: OSError) -> ModelError:
    return ModelError(f"{exc.filename or where}: sentence encoder unreadable "
                      f"({exc.strerror or exc}); reinstall cartriage or restore models/encoder/")


def replace_file(path: Path, data: bytes) -> None:
    """Write `path` whole under a new inode (a temporary file, then renamed over it): a running
    cartriage maps weights.bin (onnxruntime), and a file truncated or rewritten in place under
    that map ends the process with SIGBUS."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
