"""The metered budget: the run's cap and the ledger's caps together; a ledger lost mid-run."""

from __future__ import annotations

import psycopg
import pytest

from cartriage.ledger import Caps, Scope, metered, open_ledger
from cartriage.ledger.session import Session
from cartriage.review.budget import Cost, OverBudget
from cartriage.review.findings import Review

SCOPE = Scope("team/repo", "9", "run-1")


def session_for(url: str, caps: Caps) -> Session:
    return Session(open_ledger(url), SCOPE, caps, ttl=60)


def test_the_tighter_of_run_and_ledger_caps_wins(tmp_path):
    session = session_for(str(tmp_path / "l.db"), Caps(per_pr_tokens=1_500))
    budget = session.metered(tokens=1_000, usd=None)
    with pytest.raises(OverBudget):  # the run's own cap
        budget.reserve(Cost(1_200, 0.0))
    held = budget.reserve(Cost(900, 0.0), unit_id="u", strategy="single", model="m")
    call = budget.take(held, Cost(900, 0.0))
    budget.settle(held, call, Cost(700, 0.0))
    budget.release(held)
    second = session.metered(tokens=1_000, usd=None)  # a later run of the same PR
    with pytest.raises(OverBudget, match="this PR: needs up to 900 tokens, 800 of 1,500 left"):
        second.reserve(Cost(900, 0.0))
    rows = session.ledger.spend()
    assert [(r.strategy, r.model, r.tokens) for r in rows] == [("single", "m", 700)]
    assert session.ledger.totals(SCOPE).reserved.tokens == 0


def test_a_call_larger_than_its_unit_grows_the_ledger_hold_first(tmp_path):
    session = session_for(str(tmp_path / "l.db"), Caps(per_pr_tokens=1_000))
    budget = session.metered(tokens=None, usd=None)
    held = budget.reserve(Cost(600, 0.0), unit_id="u", strategy="single", model="m")
    call = budget.take(held, Cost(900, 0.0))  # 300 more, held in the ledger too
    assert session.ledger.totals(SCOPE).reserved.tokens == 900
    with pytest.raises(OverBudget, match="this PR"):  # the PR cap, not the run's (no run cap)
        budget.take(held, Cost(200, 0.0))
    budget.settle(held, call, Cost(900, 0.0))
    budget.release(held)
    totals = session.ledger.totals(SCOPE)
    assert totals.spent.tokens == 900 and totals.reserved.tokens == 0


def test_a_usd_cap_needs_a_price(tmp_path):
    budget = session_for(str(tmp_path / "l.db"), Caps(monthly_usd=1.0)).metered(None, None)
    with pytest.raises(OverBudget, match="no price"):
        budget.reserve(Cost(100, None))


def test_a_ledger_lost_mid_run_refuses_more_and_says_what_went_unrecorded(
        postgres_ledger_url, monkeypatch):
    monkeypatch.setattr(metered, "SETTLE_RETRIES", (0.01,))
    session = session_for(postgres_ledger_url, Caps(monthly_tokens=10_000))
    budget = session.metered(None, None)
    held = budget.reserve(Cost(1_000, 0.0), unit_id="u", strategy="single", model="m")
    with psycopg.connect(postgres_ledger_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'cartriage'")
    call = budget.take(held, Cost(1_000, 0.0))
    # the call happened; the ledger cannot take it
    budget.settle(held, call, Cost(400, 0.0))
    with pytest.raises(OverBudget, match="ledger postgresql://"):
        budget.reserve(Cost(10, 0.0))
    review = session.finish(Review(units=(), findings=(), prompt_tokens=300,
                                   completion_tokens=100, usd=0.0, redactions=0,
                                   dropped_findings=0, reanchored_findings=0, complete=True))
    assert not review.complete
    assert "1 call(s) (400 tokens) could not be recorded in the ledger" in review.notes
