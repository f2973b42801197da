"""Loading the shipped ONNX models and their cards; onnxruntime is imported only here, lazily.

A model's input is its feature vector (all of features.py, or only the numeric part when its
card says `"features": "numeric"`), followed, when its card names an `encoder`, by the sentence
embedding of the change's text (encoder.py) times the card's `scale`, then, when its card has
`rubric_words`, the change's rubric words (features.rubric_words) times their `scale`.
A model is refused (ModelError, one line naming the file and how to rebuild it) when its file or
card is missing or corrupt, its sha256 differs from the card's, or its feature version or input
size differs from features.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from cartriage.errors import ModelError
from cartriage.scoring import encoder, features
from cartriage.scoring.decision import Rule

NAMES = ("consequence", "consequence-issue", "difficulty")
REBUILD = ("rebuild with `cartriage train --data changes-train.jsonl --data issues-train.jsonl "
           "--out models`")
_LOADED: dict[tuple[str, str], Model] = {}


def model_dir() -> Path:
    """`$CARTRIAGE_MODEL_DIR`, else the repository's top-level `models/` folder (installed
    wheels carry it as `cartriage/models`, through the `cartriage/models` symlink)."""
    from cartriage.scoring.cache import model_folder  # the one rule, kept where numpy is not

    return model_folder()


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    card: dict[str, Any]
    rule: Rule
    coefficients: np.ndarray  # (3, dim): for explanations only; predictions come from ONNX
    session: Any
    # the training issues whose tiers the model reads for similar texts (card `neighbours`):
    # their embeddings and tiers
    neighbours: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def version(self) -> str:
        return f"{self.name}@{self.card['sha256'][:12]}"

    @property
    def reads_embedding(self) -> bool:
        """True when the model reads the sentence embedding of the change's text."""
        return "encoder" in self.card

    @property
    def reads_rubric_words(self) -> bool:
        """True when the model reads the rubric words of the change's text."""
        return "rubric_words" in self.card

    @property
    def change_share(self) -> float:
        """How far a unit's features are pulled toward its whole change's (card
        `change_share`; features.with_change), 0 for none."""
        return float(self.card.get("change_share", 0.0))

    @property
    def numeric_only(self) -> bool:
        """True when the model reads only the numeric features, no hashed token."""
        return self.card.get("features") == "numeric"

    @cached_property
    def width(self) -> int:
        """How many entries of a feature vector the model reads."""
        return self.coefficients.shape[1] - _text_width(self.card)

    def rows(self, feats: list[features.Features], embeddings: np.ndarray | None,
             words: np.ndarray | None = None) -> np.ndarray:
        """The model's input rows: each feature vector, then its text's embedding and rubric
        words (features.rubric_words), each scaled, then the tier shares of the training issues
        most similar to its text (features.neighbour_shares), when the model reads them
        (`embeddings` and `words` have one row per feature vector)."""
        width = self.width
        if not (self.reads_embedding or self.reads_rubric_words):
            return np.vstack([f.vector[:width] for f in feats])
        X = np.empty((len(feats), self.coefficients.shape[1]), dtype=np.float32)
        for row, f in zip(X, feats, strict=True):
            row[:width] = f.vector[:width]
        end = width
        for key, values in (("encoder", embeddings), ("rubric_words", words)):
            if key in self.card:
                size = values.shape[-1]
                X[:, end:end + size] = np.float32(self.card[key]["scale"]) * values.astype(
                    np.float32)
                end += size
        if self.neighbours:
            X[:, end:] = features.neighbour_shares(embeddings, *self.neighbours,
                                                   self.card["neighbours"]["k"])
        return X

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities for low/medium/high."""
        if rows.shape[0] == 0:
            return np.zeros((0, 3), dtype=np.float32)
        outputs = self.session.run(None, {"features": rows.astype(np.float32, copy=False)})
        return np.asarray(outputs[1], dtype=np.float64)

    @cached_property
    def pulls(self) -> np.ndarray:
        """(3, dim): each tier's coefficients less their mean over the tiers."""
        return self.coefficients - self.coefficients.mean(axis=0)

    def top_features(self, feats: features.Features, tier_index: int, row: np.ndarray,
                     k: int = 5) -> tuple[tuple[str, float], ...]:
        """Features pushing toward `tier_index` most: x_j * (w_tier,j - mean_c w_c,j); the
        embedding's entries count as one, `text (sentence embedding)`. `row` is the input row."""
        pull = self.pulls[tier_index]
        width = self.width
        named = [(j, name) for j, name in feats.names.items() if j < width]
        at = np.fromiter((j for j, _ in named), dtype=np.intp, count=len(named))
        items = list(zip((name for _, name in named), (row[at] * pull[at]).tolist(),
                         strict=True))
        end = width + (encoder.DIMENSION if self.reads_embedding else 0)
        if self.reads_embedding:
            items.append(("text (sentence embedding)", float(row[width:end] @ pull[width:end])))
        names = (features.RUBRIC_NAMES if self.reads_rubric_words else ()) + (
            features.NEIGHBOUR_NAMES if self.neighbours else ())
        items += zip(names, (row[end:end + len(names)] * pull[end:end + len(names)]).tolist(),
                     strict=True)
        items = sorted(((n, v) for n, v in items if v > 0), key=lambda kv: -kv[1])[:k]
        return tuple((n, round(v, 4)) for n, v in items)


def load(name: str) -> Model:
    """The named model from model_dir(), loaded once per process."""
    folder = model_dir()
    key = (str(folder), name)
    if key not in _LOADED:
        _LOADED[key] = _load(folder / f"{name}.onnx", folder / f"{name}.json", name)
    return _LOADED[key]


def clear_cache() -> None:
    _LOADED.clear()


def _load(path: Path, card_path: Path, name: str) -> Model:
    def fail(why: str, where: Path = path) -> ModelError:
        return ModelError(f"{where}: {why}; {REBUILD}")

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise fail("model file missing") from None
    except OSError as exc:
        raise fail(f"cannot read model ({exc.strerror})") from None
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail("model card missing", card_path) from None
    except (OSError, ValueError) as exc:
        raise fail(f"model card unreadable ({exc.__class__.__name__})", card_path) from None
    if not isinstance(card, dict):
        raise fail("model card is not a JSON object", card_path)
    if card.get("feature_version") != features.FEATURE_VERSION:
        raise fail(f"built for feature version {card.get('feature_version')!r}, this cartriage "
                   f"computes {features.FEATURE_VERSION!r}")
    if card.get("sha256") != hashlib.sha256(data).hexdigest():
        raise fail("file does not match the sha256 in its model card (corrupt or replaced)")
    kind = "difficulty" if card.get("target") == "difficulty" else "consequence"
    dim = (features.numeric_dimension(kind) if card.get("features") == "numeric"
           else features.dimension(kind)) + _text_width(card)
    try:
        rule = Rule.from_dict(card["rule"])
        shape = tuple(card["coefficients"]["shape"])
        raw = base64.b64decode(card["coefficients"]["float32_base64"])
        coefficients = np.frombuffer(raw, dtype=np.float32).reshape(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(f"model card incomplete ({exc.__class__.__name__}: {exc})", card_path) from None
    if card.get("input_dim") != dim or shape != (3, dim):
        raise fail(f"expects {card.get('input_dim')} features, this cartriage computes {dim}")
    if "encoder" in card and not _embeds_known_text(card["encoder"]):
        raise fail("model card's encoder entry needs an integer max_tokens from 1 to "
                   f"{encoder.MAX_POSITIONS}, a text among {features.EMBEDDED_TEXTS} and products "
                   f"among {encoder.PRODUCTS}",
                   card_path)
    share = card.get("change_share", 0.0)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise fail("model card's change_share must be a number from 0 to 1", card_path)
    if "neighbours" in card and "encoder" not in card:
        raise fail("model card has neighbours but no encoder entry", card_path)
    neighbours = _neighbours(path.parent, card["neighbours"], fail) if "neighbours" in card \
        else None
    return Model(name, path, card, rule, coefficients, onnx_session(data, fail), neighbours)


def _text_width(card: dict) -> int:
    """The entries after the feature vector that a card's model reads: the text's embedding,
    its rubric words, the similar issues' tier shares."""
    return ((encoder.DIMENSION if "encoder" in card else 0)
            + (len(features.RUBRIC_NAMES) if "rubric_words" in card else 0)
            + (len(features.NEIGHBOUR_NAMES) if "neighbours" in card else 0))


def _neighbours(folder: Path, entry: Any, fail: Callable[..., ModelError]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The similar-issue table a card names (train._write_neighbours): embeddings and tiers,
    checked against the card's sha256."""
    try:
        where = folder / entry["file"]
        data = where.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise fail("does not match the sha256 in its model card (corrupt or replaced)",
                       where)
        if not (isinstance(entry["k"], int) and entry["k"] > 0):
            raise ValueError("k is not a positive integer")
        table = np.load(io.BytesIO(data), allow_pickle=False)
        if table.ndim != 2 or table.shape[1] != encoder.DIMENSION + 1:
            raise ValueError(f"shape {table.shape}")
        if not np.isin(table[:, -1], (0, 1, 2)).all():
            raise ValueError("its tiers are not 0, 1 or 2")
    except OSError as exc:
        raise fail(f"similar-issue table unreadable ({exc.strerror})",
                   folder / str(entry.get("file"))) from None
    except (KeyError, TypeError, ValueError, EOFError) as exc:  # EOFError: an empty table
        raise fail(f"model card's neighbours entry or table unusable ({exc})") from None
    return table[:, :-1], table[:, -1].astype(np.int64)


def _embeds_known_text(entry: Any) -> bool:
    """A card's `encoder` entry names what it embeds, where the text is cut and the graph's
    products (its `text` defaults to the whole text, its `products` to float)."""
    cut = entry.get("max_tokens") if isinstance(entry, dict) else None
    return (isinstance(cut, int) and not isinstance(cut, bool)
            and 0 < cut <= encoder.MAX_POSITIONS
            and entry.get("text", "text") in features.EMBEDDED_TEXTS
            and entry.get("products", encoder.UNNAMED_PRODUCTS) in encoder.PRODUCTS)


def onnx_session(source: bytes | Path, fail: Callable[[str], ModelError], optimized: bool = False,
                 prepack: bool = True) -> Any:
    """An onnxruntime session (one thread, CPU) on the graph `source` (its bytes, or its file:
    then onnxruntime reads the graph's external weights from beside it); `fail(why)` is raised
    when the graph cannot be loaded. `optimized`: the graph was optimised offline (no
    optimisation pass now); `prepack`: constant weights are packed for the kernels at load.
    onnxruntime is imported here, on first use."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    try:
        return ort.InferenceSession(source if isinstance(source, bytes) else str(source),
                                    sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt graphs
        raise fail(f"not a loadable ONNX model ({str(exc).splitlines()[0][:120]})") from None
