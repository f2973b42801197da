"""The miss-probability model: a documented model of review recall, not measured LLM recall.

One review pass catches a defect in a unit of difficulty tier t with probability

    catch(t) = recall + difficulty_slope * (1/2, 0, -1/2)[t]      (t = low, medium, high)

clipped to [0.01, 0.99]. K samples behave like K_eff independent passes,

    K_eff = 1 + (D - 1) * (1 - model_correlation) + (K - D) * (1 - sample_correlation)

where D is the number of different models among the samples: a sample from another model is
worth more than a repeat of the same one. K samples merged miss with (1 - catch) ** K_eff; a judge
keeps a correct candidate with probability judge_accuracy. P(miss | strategy, unit) averages the
per-tier miss over the unit's difficulty tier probabilities.

Defaults are grounded in published figures (see the README): a typical single LLM reviewer
catches about half of confirmed defects (the best about 64%); 2, 3 and 4 different models
together covered 57%, 75% and 89% (least squares over these gives model_correlation ~0.48);
repeated passes of one model added little (sample_correlation 0.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

TIERS = ("low", "medium", "high")
_TIER_SHIFT = (0.5, 0.0, -0.5)

def catch_by_tier(recall: float, slope: float) -> tuple[float, float, float]:
    """Chance that one pass catches a defect, for difficulty low, medium, high."""
    return tuple(min(0.99, max(0.01, recall + slope * s)) for s in _TIER_SHIFT)


def distinct_models(samples: int, models: Sequence[str]) -> int:
    """How many different models K samples use when they take `models` in turn."""
    return max(1, min(samples, len(set(models)))) if models else 1


def effective_samples(samples: int, models: Sequence[str], sample_correlation: float,
                      model_correlation: float) -> float:
    """K samples expressed as a number of independent passes (see the module docstring)."""
    if samples <= 0:
        return 0.0
    different = distinct_models(samples, models)
    return (1.0 + (different - 1) * (1.0 - min(1.0, model_correlation))
            + (samples - different) * (1.0 - min(1.0, sample_correlation)))


def sampled_miss(params: dict, samples: int) -> tuple[float, float, float]:
    """Per-tier miss probability of `samples` merged samples under the model."""
    k_eff = effective_samples(samples, params.get("models") or [],
                              params["sample_correlation"], params["model_correlation"])
    return tuple((1.0 - c) ** k_eff
                 for c in catch_by_tier(params["recall"], params["difficulty_slope"]))


def judged(miss: float, judge_accuracy: float) -> float:
    """Miss probability after a judge that keeps a correct candidate with `judge_accuracy`."""
    return 1.0 - (1.0 - miss) * min(1.0, judge_accuracy)


def observed_miss(attempts: int, successes: int, draws: int) -> float:
    """Chance that `draws` of `attempts` observed attempts (`successes` right) are all wrong.

    Draws without replacement: C(n - k, K) / C(n, K); K is capped at n.
    """
    if draws <= 0:
        return 1.0
    if attempts <= 0:
        raise ValueError("outcomes.attempts must be positive")
    draws = min(draws, attempts)
    return comb(attempts - successes, draws) / comb(attempts, draws)
