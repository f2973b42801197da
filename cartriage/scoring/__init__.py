"""Scoring: consequence and difficulty per review unit, from the shipped ONNX models.

`score(change, analysis, config) -> Scores` for the pipeline; `predict_records(records, config)`
for batches of change records (`cartriage score`, the allocation bench).
"""

from __future__ import annotations

from cartriage.scoring.scores import Consequence, Difficulty, RecordScore, Scores, UnitScore

__all__ = [
    "Consequence", "Difficulty", "RecordScore", "Scores", "UnitScore", "predict_records", "score",
]


def __getattr__(name: str):
    """`score` and `predict_records` load numpy and onnxruntime: only when first used, so that
    importing the score types (reports, a plan served from cache) does not."""
    if name in ("score", "predict_records"):
        from cartriage.scoring import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'cartriage.scoring' has no attribute {name!r}")
