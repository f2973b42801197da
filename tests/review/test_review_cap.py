"""The hard cap against endpoints that bill dishonestly: randomized runs, counted at the server."""

from __future__ import annotations

import random

import pytest
from cap_runs import MISBEHAVIOURS, random_run
from llm_server import Billing, Hang, finding, findings
from review_support import config_for, patch_for, result_for

from cartriage import review
from cartriage.review.budget import call_charge


@pytest.mark.parametrize("misbehaviour", list(MISBEHAVIOURS))
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic on non-numeric usage
def test_server_counted_spend_stays_under_the_cap(misbehaviour, tmp_path):
    rng = random.Random(misbehaviour)
    # The two that bill beyond what is asked get more runs.
    for _ in range(4 if misbehaviour in ("over-bills prompt 2-6x", "ignores max_tokens") else 2):
        run = random_run(rng, misbehaviour, tmp_path)
        assert run.charged >= run.billed  # the reported spend is never below the real one
        assert run.complete == all(s == "reviewed" for s in run.statuses)
        if run.prompt_factor > 4:
            # Over one token per (ASCII) byte: only the first answered call, made alone and
            # reserved at the byte bound, can be billed beyond its reservation; every later one
            # is reserved at the ratio the first one showed.
            assert run.billed <= run.cap or run.billed - run.cap < run.first_bill
        else:  # ignoring max_tokens included: the stream is cut at the reserved completion
            assert run.billed <= run.cap


@pytest.mark.parametrize(("reported", "charged"), [
    ((100, 50), (120, 60, True)),  # own count higher: the own count
    ((300, 90), (300, 90, True)),  # provider higher: the provider
    ((None, None), (400, 200, False)),  # missing: never below the reservation
    ((0, 0), (400, 200, False)),
    ((-600_000, -5), (400, 200, False)),
    (("many", 3), (400, 200, False)),
    ((float("nan"), 3), (400, 200, False)),
    ((True, 3), (400, 200, False)),
])
def test_a_call_is_charged_the_larger_of_report_and_count(reported, charged):
    assert call_charge(reported, counted=(120, 60), reserved=(400, 200)) == charged


def test_usage_that_is_missing_is_charged_not_free(llm_server, tmp_path):
    llm_server.billing = Billing(usage="missing")
    llm_server.responder = lambda body: findings(finding("app/a.py", 1, "x" * 40))
    result = review.run(result_for(patch_for("app/a.py", ["x = 1"])),
                        config_for(llm_server.url, tmp_path))
    assert result.prompt_tokens + result.completion_tokens >= llm_server.billed > 0
    assert result.billed_tokens == 0 and result.counted_tokens > 0
    assert any("charged by our own count" in note for note in result.notes)
    assert any(note.startswith("spend: charged") for note in result.notes)


def test_a_timed_out_call_is_in_the_spend(llm_server, tmp_path):
    llm_server.script(Hang(3))
    result = review.run(result_for(patch_for("app/a.py", ["x = 1"])),
                        config_for(llm_server.url, tmp_path, timeout=0.5))
    assert result.units[0].status == "failed" and not result.complete
    assert result.prompt_tokens + result.completion_tokens == result.reserved_tokens > 0
    assert any("timed-out" in note for note in result.notes)


def test_later_calls_are_reserved_at_the_ratio_the_provider_bills(llm_server, tmp_path):
    llm_server.billing = Billing(prompt_factor=5)
    patch = "".join(patch_for(f"app/m{i}.py", ["x = 1"] * 20) for i in range(4))
    result = review.run(result_for(patch), config_for(llm_server.url, tmp_path,
                                                      max_concurrency=1))
    assert len(llm_server.bills) == 4
    # The first call is reserved at a token per byte; the three after it at over 5x our count.
    assert result.reserved_tokens > (1.2 + 3 * 5) / 4 * result.counted_tokens
    assert result.billed_tokens == llm_server.billed
    assert result.prompt_tokens + result.completion_tokens >= llm_server.billed


def test_the_first_call_is_reserved_at_a_token_per_byte_when_the_budget_holds_it(llm_server,
                                                                                tmp_path):
    patch = "".join(patch_for(f"app/m{i}.py", ["x = 1"] * 30) for i in range(2))
    config = config_for(llm_server.url, tmp_path, max_concurrency=1)
    config.strategies["single"]["max_output_tokens"] = 300
    result = review.run(result_for(patch, budget_tokens=100_000), config)
    first, second = (sum(len(m["content"].encode()) + 8 for m in body["messages"])
                     for body in llm_server.requests)
    # The first at one token per byte (+16); the second at the honest ratio the first showed.
    assert result.reserved_tokens >= first + 16 + 300 + 300
    assert result.reserved_tokens < first + 16 + 300 + second / 2 + 300
