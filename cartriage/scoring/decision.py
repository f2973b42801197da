"""The decision rule from tier probabilities to a tier, and the riskiest-unit envelope.

Rule: a cost-weighted argmax, tier = argmax(w_low * p_low, p_medium, w_high * p_high). The two
weights are chosen in training on grouped out-of-fold predictions (validation.choose_rule): the
best macro-F1 that keeps a high record predicted low within 1 in 200 highs, the worst error.
A unit is decided on its own: a tests/docs-only unit is never high (minor_unit) and has its own
weight of p(low) (Rule.minor, validation.choose_minor); the change is its riskiest unit
(envelope).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cartriage.scoring.scores import TIERS


@dataclass(frozen=True)
class Rule:
    low: float
    high: float
    minor: float | None = None  # a tests/docs-only unit's weight of p(low) (tier), if chosen

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high,
                **({} if self.minor is None else {"minor": self.minor})}

    @classmethod
    def from_dict(cls, data: dict) -> Rule:
        minor = data.get("minor")
        return cls(float(data["low"]), float(data["high"]),
                   None if minor is None else float(minor))


def tier(probabilities: Sequence[float], rule: Rule, minor: bool = False) -> str:
    """Tier for (p_low, p_medium, p_high); for a tests/docs-only unit (`minor`) with a chosen
    `rule.minor`: low when rule.minor * p_low >= p_medium + p_high, else medium (never high)."""
    p_low, p_medium, p_high = probabilities
    if minor and rule.minor is not None:
        return "low" if rule.minor * p_low >= p_medium + p_high else "medium"
    scores = (rule.low * p_low, p_medium, rule.high * p_high)
    return TIERS[max(range(3), key=lambda k: (scores[k], k))]


def envelope(rows: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """The change's probabilities from its units': the largest p(high), the smallest p(low).

    A change is as risky as its riskiest unit, never the average; its tier is the highest
    unit tier (predict._riskiest).
    """
    p_high = max(r[2] for r in rows)
    p_low = min(r[0] for r in rows)
    return (p_low, max(0.0, 1.0 - p_low - p_high), p_high)


def minor_unit(probabilities: Sequence[float]) -> tuple[float, float, float]:
    """A tests- or docs-only unit's probabilities: the rubric rates such a unit low or medium
    whatever change it belongs to, so the model's p(high) for it (which comes from the
    change's text, shared by all its units) moves to medium."""
    p_low, p_medium, p_high = probabilities
    return (p_low, p_medium + p_high, 0.0)


def one_hot(name: str) -> tuple[float, float, float]:
    return tuple(float(t == name) for t in TIERS)  # type: ignore[return-value]


def rank(name: str) -> int:
    return TIERS.index(name)
