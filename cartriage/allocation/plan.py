"""The allocation contract: which strategy each unit gets, at what estimated cost, and why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Assignment:
    """One unit's strategy. `expected_loss` is weight * P(defect) * P(miss | strategy)."""

    unit_id: str
    strategy: str
    samples: int
    est_tokens: int
    est_usd: float | None
    expected_loss: float
    loss_if_skipped: float
    reason: str
    forced_by: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The triage plan: assignments for every unit and totals against the budget."""

    policy: str
    assignments: tuple[Assignment, ...]
    budget_tokens: int | None
    budget_usd: float | None
    total_tokens: int
    total_usd: float | None
    expected_loss: float
    notes: tuple[str, ...] = ()

    def assignment(self, unit_id: str) -> Assignment | None:
        return next((a for a in self.assignments if a.unit_id == unit_id), None)
