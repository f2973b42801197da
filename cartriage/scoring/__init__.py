"""Scoring: consequence and difficulty per review unit, from the shipped ONNX models.

`score(change, analysis, config) -> Scores` for the pipeline; `predict_records(records, config)`
for batches of change records (`cartriage score`, the allocation bench).
"""

from __future__ import annotations

from cartriage.scoring.predict import predict_records, score
from cartriage.scoring.scores import Consequence, Difficulty, RecordScore, Scores, UnitScore

__all__ = [
    "Consequence", "Difficulty", "RecordScore", "Scores", "UnitScore", "predict_records", "score",
]
