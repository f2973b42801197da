"""The decision rule from tier probabilities to a tier, and the riskiest-unit envelope.

Rule: `high` when p(high) >= thresholds.high; `low` only when p(high) < thresholds.low_guard and
p(low) >= thresholds.low; otherwise `medium`. The guard keeps likely-high units out of `low`,
because a high-consequence change predicted low is the worst error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cartriage.scoring.scores import TIERS


@dataclass(frozen=True)
class Thresholds:
    high: float
    low_guard: float
    low: float

    def to_dict(self) -> dict[str, float]:
        return {"high": self.high, "low_guard": self.low_guard, "low": self.low}

    @classmethod
    def from_dict(cls, data: dict) -> Thresholds:
        return cls(float(data["high"]), float(data["low_guard"]), float(data["low"]))


def tier(probabilities: Sequence[float], thresholds: Thresholds) -> str:
    """Tier for (p_low, p_medium, p_high)."""
    p_low, _, p_high = probabilities
    if p_high >= thresholds.high:
        return "high"
    if p_high < thresholds.low_guard and p_low >= thresholds.low:
        return "low"
    return "medium"


def envelope(rows: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """The change's probabilities from its units': the largest p(high), the smallest p(low).

    Under the decision rule the envelope's tier is exactly the highest tier of any unit, so a
    change is as risky as its riskiest unit, never the average.
    """
    p_high = max(r[2] for r in rows)
    p_low = min(r[0] for r in rows)
    return (p_low, max(0.0, 1.0 - p_low - p_high), p_high)


def one_hot(name: str) -> tuple[float, float, float]:
    return tuple(float(t == name) for t in TIERS)  # type: ignore[return-value]


def rank(name: str) -> int:
    return TIERS.index(name)
