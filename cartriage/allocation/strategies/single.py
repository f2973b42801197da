"""single: one review pass with the strategy's model."""

from __future__ import annotations

from cartriage.allocation.cost import Call, sample_models
from cartriage.allocation.model import sampled_miss

NAME = "single"


def calls(params: dict) -> list[Call]:
    return [Call(sample_models(params)[0], 1, 0, params["output_tokens"])]


def attempts(params: dict) -> int:
    return 1


def miss_by_tier(params: dict) -> tuple[float, float, float]:
    return sampled_miss(params, 1)


def miss_from_attempts(params: dict, miss: float) -> float:
    return miss
