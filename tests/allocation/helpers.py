"""Analysis and Scores built directly, as the earlier stages would produce them."""

from __future__ import annotations

from cartriage.analysis.facts import Analysis, FileFacts, RoleHit, Unit
from cartriage.scoring.scores import Consequence, Difficulty, Scores, UnitScore

WEIGHTS = {"low": 1.0, "medium": 5.0, "high": 25.0}
DEFECT = {"low": 0.05, "medium": 0.2, "high": 0.4}


def change(units: list[tuple[str, int, str, str]], roles: dict[str, tuple[str, ...]] = None):
    """(path, changed lines, consequence tier, difficulty tier) per unit."""
    roles = roles or {}
    analysis = Analysis(
        files=tuple(FileFacts(path=p, language="python",
                              roles=tuple(RoleHit(r, "test") for r in roles.get(p, ())))
                    for p, *_ in units),
        units=tuple(Unit(id=p, path=p, hunks=(0,), added=n, removed=0) for p, n, *_ in units))
    scores = Scores(
        units=tuple(UnitScore(
            unit_id=p,
            consequence=Consequence(tier=c, probabilities={c: 1.0}, expected_weight=WEIGHTS[c]),
            difficulty=Difficulty(tier=d, probabilities={d: 1.0}, defect_probability=DEFECT[d]))
            for p, _, c, d in units),
        change=Consequence(tier="high", probabilities={"high": 1.0}, expected_weight=25.0),
        model_version="test")
    return analysis, scores
