"""The review contract: findings per unit, what was spent, and what was left unreviewed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SEVERITIES = ("critical", "major", "minor", "info")
UnitStatus = Literal["reviewed", "skipped", "not reviewed: budget", "failed"]


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    line_start: int
    line_end: int
    severity: str
    category: str
    title: str
    explanation: str
    suggestion: str
    confidence: float
    unit_id: str
    strategy: str
    support: int = 1
    samples: int = 1
    reanchored: bool = False
    reason: str = ""
    reused: bool = False  # carried over from an earlier run of the PR (the unit is unchanged)


@dataclass(frozen=True, slots=True)
class UnitReview:
    unit_id: str
    status: UnitStatus
    reason: str = ""
    findings: tuple[Finding, ...] = ()
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    cached: bool = False
    strategy: str = ""
    samples: int = 0
    model: str = ""
    planned_tokens: int = 0
    redactions: int = 0
    dropped_findings: int = 0
    reanchored_findings: int = 0
    reused: bool = False  # reviewed in an earlier run of the PR; nothing spent now


@dataclass(frozen=True, slots=True)
class Review:
    """The outcome of running the plan; `complete` is False when a planned unit went unreviewed."""

    units: tuple[UnitReview, ...]
    findings: tuple[Finding, ...]
    prompt_tokens: int
    completion_tokens: int
    usd: float
    redactions: int
    dropped_findings: int
    reanchored_findings: int
    complete: bool
    notes: tuple[str, ...] = ()
    planned_tokens: int = 0
    planned_usd: float | None = None
    budget_tokens: int | None = None
    budget_usd: float | None = None
    calls: int = 0
    cached_calls: int = 0
    usd_known: bool = True
    model: str = ""
    # Incremental re-review (a ledger and a PR): units reused from earlier runs, their findings,
    # and what those units cost when they were reviewed (not spent now).
    reused_units: int = 0
    reused_findings: int = 0
    reused_tokens: int = 0
    reused_usd: float = 0.0
    # prompt_tokens + completion_tokens is what the budget was charged (timed-out calls too);
    # billed is the provider's reported usage, counted our own count, reserved the worst cases.
    billed_tokens: int = 0
    counted_tokens: int = 0
    reserved_tokens: int = 0
