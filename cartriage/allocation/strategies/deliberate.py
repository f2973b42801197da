"""deliberate: K samples, then a judge call that sees the unit and every candidate finding.

The judge keeps a correct candidate with probability `judge_accuracy` and drops false ones
(precision); in the miss model it can only lose a catch, so deliberation pays for itself through
more samples and different models, and through the precision that the loss does not count.
"""

from __future__ import annotations

from cartriage.allocation.cost import JUDGE_OVERHEAD, Call, sample_models
from cartriage.allocation.model import judged, sampled_miss

NAME = "deliberate"


def calls(params: dict) -> list[Call]:
    models = sample_models(params)
    samples = params["samples"]
    output = params["output_tokens"]
    return [Call(models[i % len(models)], 1, 0, output) for i in range(samples)] + [
        Call(params["judge_model"], 1, JUDGE_OVERHEAD + samples * output, output)
    ]


def attempts(params: dict) -> int:
    return params["samples"]


def miss_by_tier(params: dict) -> tuple[float, float, float]:
    return tuple(miss_from_attempts(params, m) for m in sampled_miss(params, attempts(params)))


def miss_from_attempts(params: dict, miss: float) -> float:
    return judged(miss, params["judge_accuracy"])
