"""multi: K independent samples (taking `models` in turn), findings merged.

Merging is a union of de-duplicated findings: it raises recall, and precision falls with each
extra sample; the judge of `deliberate` is the remedy for that.
"""

from __future__ import annotations

from cartriage.allocation.cost import Call, sample_models
from cartriage.allocation.model import sampled_miss

NAME = "multi"


def calls(params: dict) -> list[Call]:
    models = sample_models(params)
    return [Call(models[i % len(models)], 1, 0, params["output_tokens"])
            for i in range(params["samples"])]


def attempts(params: dict) -> int:
    return params["samples"]


def miss_by_tier(params: dict) -> tuple[float, float, float]:
    return sampled_miss(params, attempts(params))


def miss_from_attempts(params: dict, miss: float) -> float:
    return miss
