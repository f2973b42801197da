"""The allocation contract: which strategy each unit gets, at what estimated cost, and why."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import repeat


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
    miss_probability: float | None = None  # modelled P(miss | strategy, unit)
    value_per_token: float | None = None  # loss saved per token over the next cheaper option
    est_prompt_tokens: int | None = None  # one call's prompt estimate, its context included
    context: str = "hunks"  # what each call sees (cartriage.context): hunks, function, callers


def assignments(columns: Sequence[Sequence]) -> list[Assignment]:
    """Assignments from their fields' values, one sequence per field in order: the i-th is
    `Assignment(*(column[i] for column in columns))`. Built a field at a time through its slot:
    10,000 Assignments in ~10 ms, where the frozen dataclass's __init__ (an object.__setattr__
    call per field and Assignment) takes ~20."""
    count = len(columns[0])
    made = list(map(object.__new__, repeat(Assignment, count)))
    for set_field, column in zip(_SET_FIELDS, columns, strict=True):
        if len(column) != count:
            raise ValueError(f"{len(column)} values for {count} assignments")
        deque(map(set_field, made, column), maxlen=0)  # runs every set_field(made[i], value)
    return made


_SET_FIELDS = tuple(Assignment.__dict__[f.name].__set__ for f in fields(Assignment))


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
    notes: tuple[str, ...] = ()  # what every report shows (e.g. a rule minimum over budget)
    details: tuple[str, ...] = ()  # what repeats on every plan (totals, LP bound): --verbose
    loss_if_all_skipped: float | None = None
    lower_bound: float | None = None  # no plan within the budget has a lower expected loss
    multiplier: float | None = None  # loss reduction per budget unit (token or USD) at the cut
    unmet_minimums: tuple[str, ...] = ()  # units whose rule minimum did not fit the budget
    change: str | None = None  # which change this plan belongs to (batch mode)

    def assignment(self, unit_id: str) -> Assignment | None:
        return next((a for a in self.assignments if a.unit_id == unit_id), None)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """Plans for several changes made under one global budget (`cartriage plan --batch`)."""

    policy: str
    plans: tuple[Plan, ...]
    budget_tokens: int | None
    budget_usd: float | None
    total_tokens: int
    total_usd: float | None
    expected_loss: float
    notes: tuple[str, ...] = ()
