"""Exit codes for CI gating: findings at or above --fail-on, coverage, incomplete reviews.

Order of precedence: 1 (a finding at or above --fail-on, or --require-coverage not met) wins
over 4 (review incomplete), so that a CI job allowed to pass on 4 still stops on real findings
and on missing coverage the user asked for. An incomplete review is never 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cartriage.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, UsageError
from cartriage.report import view
from cartriage.review.findings import SEVERITIES
from cartriage.scoring.scores import TIERS

if TYPE_CHECKING:
    from cartriage.pipeline import Result

FAIL_ON = ("critical", "major", "minor", "never")


def failing_findings(result: Result, fail_on: str | None) -> list:
    """Findings at or above `fail_on` (critical > major > minor; info never fails)."""
    fail_on = _check(fail_on or "never", FAIL_ON, "--fail-on")
    if fail_on == "never":
        return []
    limit = SEVERITIES.index(fail_on)
    return [f for f in view.findings(result) if view.severity_rank(f.severity) <= limit]


def coverage_gaps(result: Result, require_coverage: str | None) -> list[view.UnitRow]:
    """Units of consequence tier `require_coverage` or above that were skipped or not reviewed.

    For a plan (no review) this is the units the plan skips. Units without a score count as
    high: when in doubt, coverage is not claimed.
    """
    if require_coverage is None:
        return []
    floor = TIERS.index(_check(require_coverage, TIERS, "--require-coverage"))
    gaps = []
    for row in view.unit_rows(result):
        rank = view.tier_rank(row.tier) if row.tier else len(TIERS) - 1
        if rank >= floor and not row.covered:
            gaps.append(row)
    return gaps


def exit_code(result: Result, fail_on: str | None = None,
              require_coverage: str | None = None) -> int:
    """0 clean, 1 findings at/above `fail_on` or a coverage gap, 4 review incomplete."""
    if failing_findings(result, fail_on) or coverage_gaps(result, require_coverage):
        return EXIT_FINDINGS
    if view.incomplete(result):
        return EXIT_INCOMPLETE
    return EXIT_CLEAN


def _check(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")
    return value
