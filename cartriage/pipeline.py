"""The pipeline: intake -> analysis -> scoring -> allocation -> review -> report.

Each stage is a package exposing one function that consumes the previous stage's contract.
Stages are imported inside the functions so that `--help` and `--version` stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cartriage.allocation.plan import Plan
    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config
    from cartriage.intake import ChangeRequest
    from cartriage.intake.change import ChangeSet
    from cartriage.review.findings import Review
    from cartriage.scoring.scores import Scores


@dataclass
class Result:
    """Everything one run produced; `review` is None for a plan-only run."""

    change: ChangeSet
    analysis: Analysis
    scores: Scores
    plan: Plan
    review: Review | None = None
    messages: list[str] = field(default_factory=list)


def triage(request: ChangeRequest, config: Config) -> tuple[ChangeSet, Analysis, Scores]:
    """Read, analyse and score the change: what allocation needs, for one change or a batch."""
    from cartriage import analysis, intake
    from cartriage.scoring import cache

    change = intake.read_change(request, config)
    facts = analysis.analyze(change, config)
    return change, facts, cache.score(change, facts, config)


def plan(request: ChangeRequest, config: Config) -> Result:
    """Triage and allocate: everything up to the first LLM call."""
    from cartriage import allocation

    change, facts, scores = triage(request, config)
    return Result(change=change, analysis=facts, scores=scores,
                  plan=allocation.allocate(facts, scores, config))
