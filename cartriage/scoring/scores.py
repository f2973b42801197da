"""The scoring contract: consequence and difficulty per unit, kept on separate axes."""

from __future__ import annotations

from dataclasses import dataclass

TIERS = ("low", "medium", "high")
# Modelled P(defect | difficulty tier): Difficulty.defect_probability is its expectation under
# the tier probabilities, and the bench's ground truth uses it for labelled tiers. An
# assumption, not a measurement: the labelled set has too few mined defects (7 reverted or
# blamed changes in 490) to calibrate it; the ratios follow the rubric's ordering.
DEFECT_RATES = {"low": 0.05, "medium": 0.15, "high": 0.35}


@dataclass(frozen=True, slots=True)
class Consequence:
    """How costly a missed error would be: tier probabilities and the expected cost weight."""

    tier: str
    probabilities: dict[str, float]
    expected_weight: float
    top_features: tuple[tuple[str, float], ...] = ()
    override: str | None = None


@dataclass(frozen=True, slots=True)
class Difficulty:
    """How likely a defect hides in the unit and how hard it is to catch."""

    tier: str
    probabilities: dict[str, float]
    defect_probability: float
    top_features: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class UnitScore:
    unit_id: str
    consequence: Consequence
    difficulty: Difficulty


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-unit scores; `change` is the change's consequence, driven by its riskiest unit."""

    units: tuple[UnitScore, ...]
    change: Consequence
    model_version: str
    difficulty: Difficulty | None = None  # the whole change's difficulty
    mode: str = "diff"  # "issue" when scored from text alone (no reviewed files)

    def unit(self, unit_id: str) -> UnitScore | None:
        return next((u for u in self.units if u.unit_id == unit_id), None)


@dataclass(frozen=True, slots=True)
class RecordScore:
    """One change record's prediction (`predict_records`); `error` set when it was not scored."""

    id: str | None
    consequence: Consequence | None = None
    difficulty: Difficulty | None = None
    mode: str = "diff"
    units: int = 0
    error: str | None = None
