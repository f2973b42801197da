"""20 concurrent runners, random costs, one cap, 200 rounds each, on SQLite and PostgreSQL:
never above the cap, nothing lost, no deadlock, no reservation leaked."""

from __future__ import annotations

from ledger_drill import run_drill

from cartriage.ledger import open_ledger

CAP = 1_000_000


def test_twenty_runners_never_pass_the_cap(ledger_url):
    drill, finished = run_drill(ledger_url, runners=20, rounds=200, cap=CAP)
    assert finished, "a runner is stuck: deadlock"
    assert drill.errors == []
    ledger = open_ledger(ledger_url)
    totals = ledger.totals()
    assert totals.spent.tokens <= CAP and drill.peak <= CAP
    assert totals.spent.tokens == drill.settled  # nothing lost
    assert totals.reserved.tokens == 0  # no reservation leaked
    assert drill.refused > 0  # the cap was reached, so it was tested
    assert drill.reserved_rounds + drill.refused == 20 * 200
    assert sum(row.calls for row in ledger.spend()) == drill.reserved_rounds
    ledger.close()
