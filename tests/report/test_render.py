"""The text report and the format dispatch."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from report_support import FILES, default_findings, make_result

from cartriage import report
from cartriage.errors import UsageError
from cartriage.report import text
from cartriage.review.findings import Finding


def test_unknown_format_is_a_usage_error(result):
    with pytest.raises(UsageError, match="unknown --format 'yaml'"):
        report.render(result, "yaml", None)


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_every_format_renders_review_and_plan(fmt, result, plan_result):
    assert report.render(result, fmt, None, color=False)
    out = report.render(plan_result, fmt, None, color=False)
    assert isinstance(out, str)


def test_text_shows_table_bar_findings_and_footer(result):
    out = report.render(result, "text", None, color=False)
    for column in ("Unit", "Roles", "Consequence", "Difficulty", "Strategy", "Tokens", "USD"):
        assert column in out
    assert "migrations/0042_drop_email.py" in out
    assert "high .10/.10/.80" in out and "deliberate ×3" in out
    assert "Budget  " in out and "unused 18%" in out
    # findings grouped by severity, most severe first, with support and suggestion
    assert out.index("CRITICAL (1)") < out.index("MINOR (1)") < out.index("INFO (1)")
    assert "migrations/0042_drop_email.py:12-14" in out and "support 3/3" in out
    assert "→ Copy the data in a RunPython step" in out
    # footer: spend vs budget, redactions, what was not reviewed and why, incomplete
    assert "Spent 9,500 tokens ($0.0123), planned 16,500; budget 20,000 tokens" in out
    assert "Secrets redacted before sending: 2" in out
    assert "app/auth/session.py (high)  not reviewed: budget — budget exhausted" in out
    assert "Review INCOMPLETE: 1 planned unit(s)" in out
    assert "\x1b[" not in out


def test_consequence_and_difficulty_are_separate_columns(result):
    out = report.render(result, "text", None, color=False)
    row = next(line for line in out.splitlines() if line.startswith("app/auth/session.py"))
    assert "high .10/.10/.80" in row and row.count("high") == 2  # consequence high, difficulty high
    row = next(line for line in out.splitlines() if line.startswith("app/views/profile.py"))
    assert "medium .10/.80/.10" in row and " low " in row


def test_plan_only_shows_plan_and_totals(plan_result):
    out = report.render(plan_result, "text", None, color=False)
    assert "cartriage plan" in out
    assert "Plan only (no LLM called): est. 16,500 tokens ($0.0165); budget 20,000 tokens" in out
    assert "Skipped by the plan:" in out and "docs/changelog.md (low)" in out
    assert "Status" not in out and "CRITICAL" not in out and "INCOMPLETE" not in out


def test_verbose_shows_why_and_explanations(result):
    out = report.render(result, "text", None, color=False, verbose=True)
    assert "why migrations/0042_drop_email.py: deliberate: marginal value" in out
    assert "The migration removes `email`" in out


def test_quiet_keeps_findings_and_drops_the_table(result):
    out = report.render(result, "text", None, color=False, quiet=True)
    assert "CRITICAL (1)" in out and "Review INCOMPLETE" in out
    assert "Triage plan" not in out and "Budget  " not in out


def test_no_findings_complete_review_says_so():
    files = [f for f in FILES if f[8] != "not reviewed: budget"]
    out = report.render(make_result(findings=[], files=files), "text", None, color=False)
    assert "No findings." in out and "INCOMPLETE" not in out


def test_issue_only_shows_consequence_from_the_issue():
    result = make_result(review=False, files=[], issue="Rotate the signing keys of sessions")
    out = report.render(result, "text", None, color=False)
    assert "Issue-only triage" in out and "medium-consequence" in out
    assert "role:migration (+0.42)" in out


def test_empty_change_says_nothing_to_review():
    out = report.render(make_result(review=False, files=[]), "text", None, color=False)
    assert "Nothing to review" in out


def test_color_follows_flag_and_no_color(result, monkeypatch):
    assert "\x1b[" in report.render(result, "text", None, color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in report.render(result, "text", None)
    monkeypatch.delenv("NO_COLOR")
    # not a terminal (pytest captures stdout): no colour by default
    assert "\x1b[" not in report.render(result, "text", None)


def test_untrusted_text_cannot_inject_markup_or_terminal_codes():
    evil = Finding("app/views/profile.py", 3, 3, "major", "bug", "[bold red]x[/] \x1b[2J gone",
                   "", "\x1b]0;pwned\x07fix", 0.5, "app/views/profile.py", "single")
    out = report.render(make_result(findings=[*default_findings(), evil]), "text", None,
                        color=True)
    assert "[bold red]x[/]" in out  # shown literally, not interpreted as rich markup
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out


def test_budget_in_usd_only_draws_the_bar_in_dollars():
    result = make_result(review=False, budget_tokens=None, budget_usd=0.05)
    out = report.render(result, "text", None, color=False)
    assert "$0.0165 of $0.0500" in out and "unused 67%" in out


def test_unmet_rule_minimums_are_shown():
    from dataclasses import replace

    result = make_result(review=False)
    result.plan = replace(result.plan, unmet_minimums=("migrations/0042_drop_email.py",))
    out = report.render(result, "text", None, color=False)
    assert "Budget too small for the [[rules]] minimum of: migrations/0042_drop_email.py" in out
    doc = __import__("json").loads(report.render(result, "json", None))
    assert doc["plan"]["unmet_minimums"] == ["migrations/0042_drop_email.py"]


LONG = "src/paperless/documents/management/commands/exporter.py"
COLUMNS = ("Unit", "Roles", "Consequence", "Difficulty", "Strategy", "Tokens", "USD", "Status")


@pytest.mark.parametrize("width", [80, 100, 120])
def test_no_column_vanishes_silently_and_paths_shorten_in_the_middle(width):
    files = [(LONG, ("security", "core", "public-api"), "high", "high", "deliberate", 3, 12000,
              0.012, "not reviewed: budget"), *FILES[1:]]
    out = text.render(make_result(files=files), color=False, width=width)
    header = next(line for line in out.splitlines() if line.startswith("Unit"))
    hidden = [c for c in COLUMNS if c not in header.split()]
    if hidden:
        note = next(line for line in out.splitlines() if "hidden" in line)
        assert all(c in note for c in hidden) and f"at {width} columns" in note
    assert "Tokens" in header and "Status" in header and "Consequence" in header
    row = next(line for line in out.splitlines() if line.startswith("src/"))
    unit = row.split()[0]
    assert unit == LONG or ("…" in unit and unit.endswith("/exporter.py"))  # name kept whole
    if width >= 120:
        assert not hidden
    # the consequence column says which probabilities it shows
    assert "P(low/medium/high)" in out if "high .10/.10/.80" in row else "P(that tier)" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width


def test_the_tier_is_shown_with_all_three_probabilities():
    out = report.render(make_result(review=False), "text", None, color=False)
    assert "P(low/medium/high)" in out
    assert "high .10/.10/.80" in out and "medium .10/.80/.10" in out


def test_repeated_plan_notes_only_with_verbose():
    result = make_result(review=False)
    result.plan = replace(result.plan, details=("priority-aware: 16,500 of 20,000 tokens",
                                                "no plan within the budget has expected loss "
                                                "below 0.3 (LP bound)"))
    quiet = report.render(result, "text", None, color=False)
    assert "LP bound" not in quiet and "priority-aware: 16,500" not in quiet
    assert "budget allows deliberation for 1 unit" in quiet  # a plain note stays
    verbose = report.render(result, "text", None, color=False, verbose=True)
    assert "LP bound" in verbose and "priority-aware: 16,500" in verbose


def test_skip_reasons_are_never_cut_or_empty():
    reason = ("skipped: single would save 0.0338 expected loss for 4,577 tokens "
              "(7.38e-06/token); the budget went to units that save more per token")
    result = make_result(review=False)
    plan = result.plan
    docs = plan.assignments[-1]
    result.plan = replace(plan, assignments=(*plan.assignments[:-1],
                                             replace(docs, reason=reason)))
    out = text.render(result, color=False, width=80)
    joined = " ".join(line.strip() for line in out.splitlines())
    assert reason.removeprefix("skipped: ") in joined
    assert "skipped — skipped" not in joined
    reviewed = make_result()
    reviewed.review = replace(reviewed.review, units=tuple(
        replace(u, reason=f"budget exhausted: {reason} {reason}") if u.status.startswith("not")
        else u for u in reviewed.review.units))
    markdown = report.render(reviewed, "markdown", None)
    assert f"budget exhausted: {reason} {reason}" in markdown  # the whole reason, however long
    result.plan = replace(plan, assignments=(*plan.assignments[:-1], replace(docs, reason="")))
    out = text.render(result, color=False, width=120)
    assert "skipped — skipped, no reason recorded" in out


def test_ignored_files_are_named():
    result = make_result(review=False)
    result.change = replace(result.change, ignored=("poetry.lock", "dist/app.min.js"))
    out = report.render(result, "text", None, color=False)
    assert "Ignored ([ignore], not reviewed): poetry.lock, dist/app.min.js" in out
    markdown = report.render(result, "markdown", None)
    assert "`poetry.lock`, `dist/app.min.js`" in markdown
    sarif = json.loads(report.render(result, "sarif", None))
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert {"poetry.lock ignored: matches [ignore], not reviewed",
            "dist/app.min.js ignored: matches [ignore], not reviewed"} <= {
        n["message"]["text"] for n in notes}


def _many_units(count: int) -> list[tuple]:
    """`count` units of varied paths (some of wide characters), roles (some wrapping, one
    longer than the Roles column), tiers, strategies and review statuses."""
    roles = ("migration", "security", "public-api", "schema", "ui", "a-role-longer-than-16")
    strategies = (("skip", 0), ("single", 1), ("multi", 3), ("deliberate", 3))
    statuses = ("reviewed", "not reviewed: budget", "skipped", "failed")
    files = []
    for i in range(count):
        strategy, samples = strategies[i % 4]
        folder = "/".join(("app", "データ", "migrations", "netbox")[: 1 + i % 4])
        files.append((f"{folder}/module_{i}.py",
                      roles[i % 5: i % 5 + i % 3] + roles[5:][:i % 7 == 0],
                      ("low", "medium", "high")[i % 3], ("high", "low")[i % 2], strategy, samples,
                      (i * 7919) % 90000, i / 1000, statuses[(i // 4) % 4]))
    return files


@pytest.mark.parametrize("reviewing", [False, True])
@pytest.mark.parametrize("width", [40, 80, 120])
def test_a_table_of_many_units_is_laid_out_as_rich_lays_out_a_row_per_unit(reviewing, width):
    """The table's rows are laid out here (rich is slow to lay out a row per unit): the same
    text, colours and wrapped roles as rich's row per unit."""
    from rich.console import Console
    from rich.text import Text

    from cartriage.report import view

    result = make_result(files=_many_units(60), review=reviewing)
    rows = view.unit_rows(result)
    title, widths, hidden, body = text._layout(result, rows, width)
    reference = text._new_table(title, widths)
    for cells in body:
        reference.add_row(*cells.values())
    shown = []
    for parts in ([reference], list(text._table(result, rows, False, width))):
        console = Console(width=width, force_terminal=True, color_system="standard",
                          highlight=False, emoji=False, soft_wrap=False)
        with console.capture() as captured:
            for part in parts:
                if part is not parts[0] and isinstance(part, Text):
                    break  # what follows the table (the hidden columns' note)
                console.print(part)
        shown.append(captured.get())
    assert shown[0] == shown[1]
    assert len(shown[0].splitlines()) > 63 and "\x1b[1;31m" in shown[0]  # every unit, styled
    assert bool(hidden) == (width < 120)
    if "Roles" in widths:  # roles wrapped onto more lines, under a blank Unit cell
        assert any(line.startswith(" ") for line in shown[0].splitlines()[3:])
