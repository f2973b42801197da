"""The budget is a hard cap: never exceeded, and what it stops is reported, not dropped."""

from __future__ import annotations

import threading

import pytest
from cap_runs import prose
from llm_server import Billing, LLMServer, Reply, finding, findings, prompt_text
from review_support import config_for, patch_for, result_for

from cartriage import review
from cartriage.review.budget import Budget, Cost, OverBudget


def many_units(count: int) -> str:
    return "".join(patch_for(f"app/mod{i}.py", [f"def f{i}(x):", f"    return x / {i}"])
                   for i in range(count))


def spent(result) -> int:
    return result.prompt_tokens + result.completion_tokens


def test_units_beyond_the_budget_are_reported_not_reviewed(llm_server, tmp_path):
    llm_server.responder = lambda body: findings(finding(
        prompt_text(body).split("File: ", 1)[1].split(" ", 1)[0], 2, "Division by zero"))
    result = review.run(result_for(many_units(12), budget_tokens=4000),
                        config_for(llm_server.url, tmp_path, max_concurrency=1))
    statuses = [u.status for u in result.units]
    assert "reviewed" in statuses and "not reviewed: budget" in statuses
    assert spent(result) <= 4000
    assert not result.complete and result.budget_tokens == 4000
    assert llm_server.count == statuses.count("reviewed")
    # Units run in order of loss_if_skipped (the helper gives earlier files more): the
    # reviewed ones are the first ones.
    reviewed = [u.unit_id for u in result.units if u.status == "reviewed"]
    assert reviewed == [f"app/mod{i}.py" for i in range(len(reviewed))]
    stopped = next(u for u in result.units if u.status == "not reviewed: budget")
    assert "tokens" in stopped.reason and stopped.calls == 0
    assert any("not reviewed: budget" in note for note in result.notes)
    assert len(result.findings) == len(reviewed)


def test_a_reply_that_ignores_max_tokens_is_cut_at_the_reservation(llm_server, tmp_path):
    llm_server.billing = Billing(honour_max_tokens=False)
    llm_server.responder = lambda body: findings(finding("app/a.py", 1, "x",
                                                         explanation=prose(80_000)))
    config = config_for(llm_server.url, tmp_path)
    config.strategies["single"]["max_output_tokens"] = 200
    result = review.run(result_for(patch_for("app/a.py", ["x = 1"]), budget_tokens=8000), config)
    # A whole reply would be billed 20,000 tokens; reading stopped near the 200 reserved.
    assert 0 < llm_server.billed <= spent(result) <= 8000
    assert all(bill < 4000 for bill in llm_server.bills)


def test_an_endpoint_that_cannot_stream_is_an_error_unless_told(tmp_path):
    reply = findings(finding("app/a.py", 1, "Division by zero"))
    for stream, status in ((True, "failed"), (False, "reviewed")):
        with LLMServer(responder=lambda body: reply, streams=False) as server:
            result = review.run(result_for(patch_for("app/a.py", ["x = 1"])),
                                config_for(server.url, tmp_path, stream=stream, cache=False))
        assert result.units[0].status == status
        assert spent(result) >= server.billed > 0
        if stream:
            assert "[llm] stream = false" in result.units[0].reason


@pytest.mark.parametrize("budget", [0, 1500, 2500, 4000, 7000, 12000, 30000])
def test_spend_never_exceeds_the_budget_under_concurrency(llm_server, tmp_path, budget):
    llm_server.responder = lambda body: findings(
        finding("app/mod1.py", 2, "Judge-worthy", explanation="x" * 300))
    result_in = result_for(many_units(8), budget_tokens=budget, strategies={
        "app/mod0.py": ("deliberate", 3), "app/mod1.py": ("multi", 3),
        "app/mod2.py": ("multi", 2)}, strategy="single")
    config = config_for(llm_server.url, tmp_path, max_concurrency=4)
    for name in ("single", "multi", "deliberate"):
        config.strategies[name]["max_output_tokens"] = 400
    result = review.run(result_in, config)
    assert spent(result) <= budget
    assert {u.status for u in result.units} <= {"reviewed", "not reviewed: budget"}
    assert result.complete == all(u.status == "reviewed" for u in result.units)
    if budget == 0:
        assert llm_server.count == 0


def test_usd_budget_with_a_priced_model(llm_server, tmp_path):
    model = "openai/gpt-4o-mini"  # priced in litellm's bundled cost map
    config = config_for(llm_server.url, tmp_path, model=model, max_concurrency=1)
    result = review.run(result_for(many_units(12), budget_tokens=None, budget_usd=0.0009),
                        config)
    reviewed = [u for u in result.units if u.status == "reviewed"]
    assert reviewed and len(reviewed) < 12
    assert 0 < result.usd <= 0.0009 and result.usd_known
    # The full worst case (1500 completion tokens, $0.001) never fit: answers were shortened.
    assert {body["max_tokens"] for body in llm_server.requests} <= {1000, 750, 500}
    assert "answers limited to" in reviewed[0].reason
    assert result.usd == pytest.approx(sum(u.usd for u in result.units))
    assert reviewed[0].usd == pytest.approx(
        reviewed[0].prompt_tokens * 0.15e-6 + reviewed[0].completion_tokens * 0.6e-6)


@pytest.mark.parametrize(("tokens", "usd"), [(4000, 1.0), (1_000_000, 0.0009)])
def test_token_and_usd_caps_both_hold(llm_server, tmp_path, tokens, usd):
    config = config_for(llm_server.url, tmp_path, model="openai/gpt-4o-mini", max_concurrency=2)
    result = review.run(result_for(many_units(12), budget_tokens=tokens, budget_usd=usd), config)
    assert (result.budget_tokens, result.budget_usd) == (tokens, usd)
    assert spent(result) <= tokens and result.usd <= usd
    statuses = [u.status for u in result.units]
    assert "reviewed" in statuses and "not reviewed: budget" in statuses  # either cap binds


def test_usd_budget_with_an_unpriced_model_makes_no_call(llm_server, tmp_path):
    result = review.run(result_for(many_units(2), budget_tokens=None, budget_usd=1.0),
                        config_for(llm_server.url, tmp_path))
    assert llm_server.count == 0
    assert all(u.status == "not reviewed: budget" for u in result.units)
    assert "no price" in result.units[0].reason and not result.complete


def test_unpriced_model_is_reported_as_zero_usd(llm_server, tmp_path):
    result = review.run(result_for(many_units(1)), config_for(llm_server.url, tmp_path))
    assert result.usd == 0 and not result.usd_known
    assert any("USD unknown for openai/test-model" in note for note in result.notes)


def test_planned_and_actual_are_both_reported(llm_server, tmp_path):
    result = review.run(result_for(many_units(3), est_tokens=900),
                        config_for(llm_server.url, tmp_path))
    assert result.planned_tokens == 2700
    assert [u.planned_tokens for u in result.units] == [900, 900, 900]
    assert spent(result) == sum(u.prompt_tokens + u.completion_tokens for u in result.units) > 0


def test_reservations_never_overcommit_across_threads():
    budget = Budget(tokens=1000, usd=None)
    charged = []

    def unit():
        try:
            reservation = budget.reserve(Cost(300, 0.0))
        except OverBudget:
            return
        budget.settle(reservation, budget.take(reservation, Cost(200, 0.0)), Cost(120, 0.0))
        charged.append(120)
        budget.release(reservation)

    threads = [threading.Thread(target=unit) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert budget.spent.tokens == sum(charged) <= 1000
    assert budget.reserved.tokens == 0
    # Units keep fitting while the worst case fits: spent + 300 <= 1000.
    assert budget.spent.tokens + 300 > 1000


def test_a_reservation_extends_only_into_free_budget():
    budget = Budget(tokens=500, usd=None)
    first = budget.reserve(Cost(300, 0.0))
    with pytest.raises(OverBudget):
        budget.take(first, Cost(501, 0.0))
    call = budget.take(first, Cost(500, 0.0))
    assert (call.tokens, first.tokens, budget.reserved.tokens) == (500, 0, 500)
    with pytest.raises(OverBudget):
        budget.reserve(Cost(1, 0.0), wait=False)
    budget.settle(first, call, Cost(120, 0.0))
    assert (first.tokens, budget.spent.tokens, budget.reserved.tokens) == (380, 120, 380)


def test_calls_of_one_unit_cannot_share_the_same_tokens():
    budget = Budget(tokens=1000, usd=None)
    unit = budget.reserve(Cost(600, 0.0))
    budget.take(unit, Cost(600, 0.0))  # the first call holds all of the unit's reservation
    budget.take(unit, Cost(400, 0.0))  # the second grows it to the cap
    with pytest.raises(OverBudget):
        budget.take(unit, Cost(1, 0.0))


def test_usd_cap_needs_a_price():
    budget = Budget(tokens=None, usd=1.0)
    with pytest.raises(OverBudget, match="no price"):
        budget.reserve(Cost(10, None))
    budget.reserve(Cost(10, 0.5))
    with pytest.raises(OverBudget, match=r"\$"):
        budget.reserve(Cost(10, 0.6), wait=False)


def test_an_empty_stream_is_an_empty_reply_that_gets_a_repair_not_a_missing_stream(
        llm_server, tmp_path):
    # A local model that stops at once streams a finish chunk and nothing else (llama.cpp's
    # server also reports no usage): the reply is empty, so it gets the one repair call.
    llm_server.script(Reply("", usage=False), Reply(findings(finding("app/a.py", 1, "Bug"))))
    result = review.run(result_for(patch_for("app/a.py", ["x = 1"])),
                        config_for(llm_server.url, tmp_path, cache=False))
    assert llm_server.count == 2 and result.units[0].status == "reviewed"
    assert [f.title for f in result.findings] == ["Bug"]
