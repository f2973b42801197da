"""The ledger contract on both backends: caps, settle and release, expiry, SIGKILL, schema."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cartriage.ledger import (
    Amount,
    Caps,
    Charge,
    LedgerFull,
    LedgerUnavailable,
    Scope,
    UnitRecord,
    open_ledger,
)
from cartriage.ledger.sql import SCHEMA_VERSION

PR = Scope("team/repo", "42", "run-1")
OTHER_PR = Scope("team/repo", "43", "run-2")


@pytest.fixture
def ledger(ledger_url):
    opened = open_ledger(ledger_url)
    yield opened
    opened.close()


def test_a_pr_cap_counts_spend_and_holds_of_that_pr_only(ledger):
    caps = Caps(per_pr_tokens=1_000)
    hold = ledger.reserve(PR, Amount(600), caps, ttl=60)
    with pytest.raises(LedgerFull, match="this PR: needs up to 500 tokens, 400 of 1,000 left"):
        ledger.reserve(PR, Amount(500), caps, ttl=60)
    ledger.reserve(OTHER_PR, Amount(900), caps, ttl=60)  # another PR has its own cap
    ledger.settle(hold, PR, Charge(Amount(250, 0.01), "u1", "single", "m"), ttl=60)
    ledger.release(hold)  # the unused 350 come back
    ledger.reserve(PR, Amount(750), caps, ttl=60)
    totals = ledger.totals(PR)
    assert (totals.spent.tokens, totals.reserved.tokens) == (250, 750)
    assert totals.spent.usd == pytest.approx(0.01)


def test_a_monthly_cap_is_shared_by_every_pr(ledger):
    caps = Caps(monthly_tokens=1_000, monthly_usd=1.0)
    ledger.reserve(PR, Amount(600, 0.5), caps, ttl=60)
    with pytest.raises(LedgerFull, match="budget: needs up to 500 tokens"):
        ledger.reserve(OTHER_PR, Amount(500, 0.1), caps, ttl=60)
    with pytest.raises(LedgerFull, match=r"needs up to \$0.6000"):
        ledger.reserve(OTHER_PR, Amount(100, 0.6), caps, ttl=60)


def test_extend_grows_a_hold_within_the_cap(ledger):
    caps = Caps(per_pr_tokens=1_000)
    hold = ledger.reserve(PR, Amount(600), caps, ttl=60)
    ledger.extend(hold, PR, Amount(300), caps, ttl=60)
    with pytest.raises(LedgerFull):
        ledger.extend(hold, PR, Amount(200), caps, ttl=60)
    assert ledger.totals(PR).reserved.tokens == 900


def test_an_expired_hold_frees_its_room_but_its_settled_spend_stays(ledger):
    caps = Caps(per_pr_tokens=1_000)
    hold = ledger.reserve(PR, Amount(800), caps, ttl=1)
    ledger.settle(hold, PR, Charge(Amount(300), "u", "single", "m"), ttl=1)
    time.sleep(1.2)
    assert ledger.totals(PR).reserved.tokens == 0
    ledger.settle(hold, PR, Charge(Amount(100), "u", "single", "m"), ttl=1)  # late: still kept
    assert ledger.totals(PR).spent.tokens == 400
    with pytest.raises(LedgerFull, match="expired"):
        ledger.extend(hold, PR, Amount(10), caps, ttl=1)
    ledger.reserve(PR, Amount(600), caps, ttl=60)


KILLED_RUNNER = """
import sys, time
from cartriage.ledger import Amount, Caps, Charge, Scope, open_ledger
ledger = open_ledger(sys.argv[1])
scope = Scope("team/repo", "42", "killed")
hold = ledger.reserve(scope, Amount(1000), Caps(per_pr_tokens=1500), ttl=2)
ledger.settle(hold, scope, Charge(Amount(300), "u", "single", "m"), ttl=2)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_sigkilled_runner_leaves_its_spend_and_no_hold(ledger, ledger_url):
    runner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_RUNNER), ledger_url],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout.readline().strip() == "ready"
        runner.send_signal(signal.SIGKILL)
        assert runner.wait(10) == -signal.SIGKILL
    finally:
        runner.kill()
    totals = ledger.totals(PR)
    assert (totals.spent.tokens, totals.reserved.tokens) == (300, 700)
    with pytest.raises(LedgerFull):  # still held: 300 + 700 + 600 > 1,500
        ledger.reserve(PR, Amount(600), Caps(per_pr_tokens=1_500), ttl=60)
    time.sleep(2.2)
    assert ledger.totals(PR).reserved.tokens == 0  # expired
    ledger.reserve(PR, Amount(1_200), Caps(per_pr_tokens=1_500), ttl=60)
    assert ledger.totals(PR).spent.tokens == 300


def test_units_and_runs_are_kept_per_pr(ledger):
    record = UnitRecord("abc", "single", "m", "app/a.py", "app/a.py", "run-1", 120, 0.002,
                        ({"finding": {"title": "x"}, "text": "y", "first": 1},))
    ledger.remember_unit(PR, record)
    ledger.remember_unit(PR, record)  # the same unit again replaces, never duplicates
    assert ledger.reviewed_units(PR) == {("abc", "single", "m"): record}
    assert ledger.reviewed_units(OTHER_PR) == {}


def test_the_schema_is_versioned_and_a_newer_one_is_refused(ledger_url):
    first = open_ledger(ledger_url)
    first.close()
    again = open_ledger(ledger_url)  # opening twice migrates nothing and keeps one version row
    cursor = again.connection.cursor()
    cursor.execute("SELECT version FROM cartriage_schema")
    assert cursor.fetchall() == [(SCHEMA_VERSION,)]
    cursor.execute("UPDATE cartriage_schema SET version = 99")
    if not ledger_url.startswith("postgresql"):
        again.connection.commit()
    again.close()
    with pytest.raises(LedgerUnavailable, match="schema version 99 is newer"):
        open_ledger(ledger_url)


def test_an_unopenable_sqlite_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(LedgerUnavailable, match="cannot open"):
        open_ledger(str(tmp_path / "file" / "ledger.db"))
