"""Exit codes: --fail-on, --require-coverage and incomplete reviews."""

from __future__ import annotations

import pytest
from report_support import FILES, default_findings, make_result

from cartriage import report
from cartriage.errors import UsageError

COMPLETE = [f for f in FILES if f[8] != "not reviewed: budget"]


@pytest.mark.parametrize(("fail_on", "findings", "expected"), [
    ("never", None, 0),
    (None, None, 0),
    ("critical", None, 1),
    ("major", None, 1),
    ("minor", None, 1),
    ("critical", [default_findings()[1]], 0),  # only a minor finding
    ("major", [default_findings()[1]], 0),
    ("minor", [default_findings()[1]], 1),
    ("minor", [default_findings()[2]], 0),  # info never fails
    ("critical", [], 0),
])
def test_fail_on(fail_on, findings, expected):
    result = make_result(files=COMPLETE, findings=findings)
    assert report.exit_code(result, fail_on, None) == expected


def test_incomplete_review_is_never_clean():
    result = make_result(findings=[])
    assert report.exit_code(result, "never", None) == 4
    assert report.exit_code(result, "critical", None) == 4


def test_incomplete_even_when_the_flag_says_complete():
    result = make_result(findings=[], complete=True)  # a unit still says "not reviewed: budget"
    assert report.exit_code(result, None, None) == 4


def test_findings_win_over_incomplete():
    assert report.exit_code(make_result(), "major", None) == 1


@pytest.mark.parametrize(("tier", "expected"), [("high", 1), ("medium", 1), ("low", 1)])
def test_require_coverage_fails_when_a_high_unit_is_unreviewed(tier, expected):
    result = make_result(findings=[])  # app/auth/session.py (high) not reviewed: budget
    assert report.exit_code(result, None, tier) == expected


def test_require_coverage_counts_skipped_units_of_the_tier():
    # only docs/changelog.md (low) is skipped; everything else reviewed
    result = make_result(files=COMPLETE, findings=[])
    assert report.exit_code(result, None, "high") == 0
    assert report.exit_code(result, None, "medium") == 0
    assert report.exit_code(result, None, "low") == 1


def test_require_coverage_on_a_plan_checks_skips():
    plan = make_result(review=False)
    assert report.exit_code(plan, None, "medium") == 0
    assert report.exit_code(plan, None, "low") == 1
    assert report.exit_code(plan, "critical", None) == 0


@pytest.mark.parametrize(("fail_on", "coverage"), [("blocker", None), (None, "critical")])
def test_bad_values_are_usage_errors(result, fail_on, coverage):
    with pytest.raises(UsageError):
        report.exit_code(result, fail_on, coverage)
