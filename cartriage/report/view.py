"""What every report format shows, derived once from a Result: unit rows, coverage, spend.

The formats (text, json, sarif, markdown, rdjsonl) only lay these facts out; they never compute
them, so a CI script reading JSON and a human reading the terminal see the same numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cartriage import strategies
from cartriage.review.findings import SEVERITIES
from cartriage.scoring.scores import TIERS

if TYPE_CHECKING:
    from cartriage.allocation.plan import Assignment
    from cartriage.pipeline import Result
    from cartriage.review.findings import Finding, UnitReview
    from cartriage.scoring.scores import Consequence, Difficulty

REVIEWED = "reviewed"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


@dataclass(frozen=True)
class UnitRow:
    """One review unit as every report shows it."""

    unit_id: str
    path: str
    roles: tuple[str, ...]
    consequence: Consequence | None
    difficulty: Difficulty | None
    assignment: Assignment | None
    review: UnitReview | None
    reviewing: bool

    @property
    def strategy(self) -> str:
        return self.assignment.strategy if self.assignment else "unplanned"

    @property
    def tier(self) -> str | None:
        return self.consequence.tier if self.consequence else None

    @property
    def status(self) -> str:
        """`reviewed`, `skipped`, `not reviewed: budget`, `failed`, or `planned` (plan only)."""
        if self.review is not None:
            return self.review.status
        if not sends(self.strategy):
            return "skipped"
        return "planned" if not self.reviewing else "not reviewed"

    @property
    def reason(self) -> str:
        """Why the unit was not reviewed (empty when it was, or will be)."""
        if self.status in (REVIEWED, "planned"):
            return ""
        if self.review is not None and self.review.reason:
            reason = self.review.reason
        elif self.assignment is not None:
            reason = self.assignment.forced_by or self.assignment.reason
        elif self.review is None and self.reviewing:
            reason = "the review recorded nothing for this unit"
        else:
            reason = "no strategy was planned for this unit"
        # the status already says "skipped"; never an empty reason
        return reason.removeprefix("skipped: ").strip() or f"{self.status}, no reason recorded"

    @property
    def covered(self) -> bool:
        return self.status in (REVIEWED, "planned")


def clean(text: object) -> str:
    """Text from the diff or the model, safe to print: no terminal control characters."""
    return _CONTROL.sub("", str(text))


def one_line(text: object, limit: int = 0) -> str:
    line = " ".join(clean(text).split())
    return line if not limit or len(line) <= limit else line[: limit - 1] + "…"


def unit_rows(result: Result) -> list[UnitRow]:
    """A row per unit; each unit's facts, score, assignment and review looked up by key (the
    first of each, as `Analysis.facts`, `Scores.unit` and `Plan.assignment` find them): a
    linear search per unit took 0.1 s of a 1,339-unit report."""
    reviews = {u.unit_id: u for u in result.review.units} if result.review else {}
    facts_of = _first(result.analysis.files, "path")
    scores = _first(result.scores.units, "unit_id")
    assignments = _first(result.plan.assignments, "unit_id")
    rows = []
    for unit in result.analysis.units:
        facts = facts_of.get(unit.path)
        score = scores.get(unit.id)
        rows.append(UnitRow(
            unit_id=unit.id,
            path=unit.path,
            roles=facts.role_names if facts else (),
            consequence=score.consequence if score else None,
            difficulty=score.difficulty if score else None,
            assignment=assignments.get(unit.id),
            review=reviews.get(unit.id),
            reviewing=result.review is not None,
        ))
    return rows


def _first(items, key: str) -> dict:
    """Each item by its attribute `key`, the first one where several share a value."""
    found: dict = {}
    for item in items:
        found.setdefault(getattr(item, key), item)
    return found


def tier_rank(tier: str | None) -> int:
    return TIERS.index(tier) if tier in TIERS else -1


def severity_rank(severity: str) -> int:
    """0 for critical ... 3 for info; unknown severities sort last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def findings(result: Result) -> list[Finding]:
    """Findings (the review's, and secrets in added lines), most severe first, then by file and
    line."""
    found = [*(result.review.findings if result.review is not None else ()), *result.secrets]
    return sorted(found,
                  key=lambda f: (severity_rank(f.severity), f.file, f.line_start, f.title))


def severity_counts(result: Result) -> dict[str, int]:
    counts = Counter(f.severity for f in findings(result))
    return {s: counts.get(s, 0) for s in SEVERITIES}


def not_covered(rows: list[UnitRow]) -> list[UnitRow]:
    """Units left without a review, riskiest first."""
    left = [r for r in rows if not r.covered]
    return sorted(left, key=lambda r: (-tier_rank(r.tier), r.unit_id))


def unreviewed(rows: list[UnitRow]) -> list[UnitRow]:
    """Units the plan meant to review that were not (budget, failure): what makes exit 4."""
    return [r for r in not_covered(rows) if r.status != "skipped"]


def incomplete(result: Result) -> bool:
    """True when a review ran and any planned unit went unreviewed or failed."""
    review = result.review
    if review is None:
        return False
    if not review.complete:
        return True
    return any(u.status in ("failed", "not reviewed: budget") for u in review.units)


def strategy_split(result: Result) -> list[tuple[str, int, int, float | None]]:
    """(strategy, units, estimated tokens, estimated USD) for each strategy in the plan."""
    split: dict[str, list] = {}
    for a in result.plan.assignments:
        entry = split.setdefault(a.strategy, [0, 0, None])
        entry[0] += 1
        entry[1] += a.est_tokens
        if a.est_usd is not None:
            entry[2] = (entry[2] or 0.0) + a.est_usd
    order = {name: -i for i, name in enumerate(strategies.names())}  # deepest first
    return [(name, *split[name]) for name in sorted(split, key=lambda s: (order.get(s, 1), s))]


def sends(strategy: str) -> bool:
    """Whether units of `strategy` are sent to a model (not `skip`, not unplanned)."""
    known = {s.name: s.sends for s in strategies.all_strategies()}
    return known.get(strategy, False)


def strategy_bar(strategy: str) -> tuple[str, str]:
    """(colour, bar character) of a strategy in reports."""
    known = {s.name: s.bar for s in strategies.all_strategies()}
    return known.get(strategy, ("white", "#"))


def spent_tokens(result: Result) -> int | None:
    if result.review is None:
        return None
    return result.review.prompt_tokens + result.review.completion_tokens


def usd(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def tokens(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def tier_label(consequence: Consequence | None) -> str:
    """`high`, or `high (rule)` when a [[rules]] entry pinned the tier."""
    if consequence is None:
        return "–"
    return f"{consequence.tier} (rule)" if consequence.override else consequence.tier


def consequence_label(consequence: Consequence | None, compact: bool = False) -> str:
    """`high .10/.25/.65`: the tier, then P(low)/P(medium)/P(high) (PROBABILITY_KEY), so no
    number is mistaken for another tier's; `compact`: `high .65`, the tier's own probability
    (COMPACT_KEY). `high (rule)` when a [[rules]] entry pinned the tier."""
    if consequence is None or consequence.override or not consequence.probabilities:
        return tier_label(consequence)
    if compact:
        return f"{consequence.tier} {_share(consequence.probabilities.get(consequence.tier, 0))}"
    shown = "/".join(_share(consequence.probabilities.get(t, 0.0)) for t in TIERS)
    return f"{consequence.tier} {shown}"


PROBABILITY_KEY = "P(low/medium/high)"
COMPACT_KEY = "P(that tier)"


def _share(p: float) -> str:
    """A probability in three characters: `.07`, `1.0`."""
    return "1.0" if p >= 0.995 else f"{p:.2f}"[1:]


def short_path(path: str, limit: int) -> str:
    """`path` in at most `limit` characters, shortened in the middle so the file name stays:
    `cartriage/…/languages/python.py`."""
    if len(path) <= limit:
        return path
    head, _, name = path.rpartition("/")
    if len(name) + 2 > limit or not head:
        keep = max(limit - 1, 2)
        return path[: keep // 2] + "…" + path[len(path) - (keep - keep // 2):]
    room = limit - len(name) - 2  # "…/"
    return (head[:room] + "…/" + name) if room > 0 else "…/" + name


def ignored_files(result: Result) -> tuple[str, ...]:
    """Paths the change touches that [ignore] set aside (never reviewed)."""
    return tuple(clean(p) for p in result.change.ignored)


def features(top: tuple[tuple[str, float], ...], limit: int = 3) -> str:
    return ", ".join(f"{clean(name)} ({value:+.2f})" for name, value in top[:limit])


def hunk_count(result: Result) -> int:
    return sum(len(f.hunks) for f in result.change.files)


def issue_only(result: Result) -> bool:
    return not result.change.files and bool(result.change.issue.strip())


def nothing_to_review(result: Result) -> str | None:
    """Why there is nothing to review (empty change, every file ignored), or None."""
    change = result.change
    if change.files or change.issue.strip():
        return None
    if change.ignored:
        return (f"nothing to review: {clean(change.source)}: all {len(change.ignored)} changed "
                "files match [ignore]")
    return f"nothing to review: {clean(change.source)} changes no files"
