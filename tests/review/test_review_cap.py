"""The hard cap against endpoints that bill dishonestly: randomized runs, counted at the server."""

from __future__ import annotations

import random

import pytest
from cap_runs import MISBEHAVIOURS, random_run
from llm_server import Billing, Hang, finding, findings
from review_support import config_for, patch_for, result_for

from cartriage import review
from cartriage.review.budget import call_charge
from cartriage.review.llm import PROBE_MAX_TOKENS


@pytest.mark.parametrize("misbehaviour", list(MISBEHAVIOURS))
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic on non-numeric usage
def test_server_counted_spend_stays_under_the_cap(misbehaviour, tmp_path):
    rng = random.Random(misbehaviour)
    # The two that bill beyond what is asked get more runs.
    for _ in range(4 if misbehaviour in ("over-bills prompt 2-6x", "ignores max_tokens") else 2):
        run = random_run(rng, misbehaviour, tmp_path)
        assert run.charged >= run.billed  # the reported spend is never below the real one
        assert run.complete == all(s == "reviewed" for s in run.statuses)
        # Over-billing included (up to 1.5 tokens per byte): each model's first call is a
        # probe reserved at four tokens per byte; every later call at the ratio it showed.
        # Ignoring max_tokens included: the stream is cut at the reserved completion.
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
    (note,) = [n for n in result.notes if "timed-out" in n]
    timed_out = int(note.split()[0].replace(",", ""))
    # The timed-out call is charged its whole reservation; the probe before it what it was billed.
    charged = result.prompt_tokens + result.completion_tokens
    assert timed_out > 0 and timed_out + llm_server.billed <= charged <= result.reserved_tokens


def test_later_calls_are_reserved_at_the_ratio_the_provider_bills(llm_server, tmp_path):
    llm_server.billing = Billing(prompt_factor=5)
    patch = "".join(patch_for(f"app/m{i}.py", ["x = 1"] * 20) for i in range(4))
    result = review.run(result_for(patch), config_for(llm_server.url, tmp_path,
                                                      max_concurrency=1))
    assert len(llm_server.bills) == 5 and len(llm_server.probes) == 1  # the probe, 4 units
    # Every unit's call is reserved at over 5x our count of its prompt.
    assert result.reserved_tokens > 5 / 4 * result.counted_tokens
    assert result.billed_tokens == llm_server.billed
    assert result.prompt_tokens + result.completion_tokens >= llm_server.billed


def test_a_models_first_call_is_a_short_probe_reserved_at_four_tokens_per_byte(llm_server,
                                                                               tmp_path):
    llm_server.billing = Billing(prompt_factor=12)  # three tokens per byte: no tokenizer does
    patch = "".join(patch_for(f"app/m{i}.py", ["x = 1"] * 30) for i in range(3))
    config = config_for(llm_server.url, tmp_path, max_concurrency=4)
    config.strategies["single"]["max_output_tokens"] = 300
    cap = 30_000
    result = review.run(result_for(patch, budget_tokens=cap), config)
    [probe] = llm_server.probes
    assert probe["max_tokens"] == PROBE_MAX_TOKENS
    assert len(llm_server.bills) == 1 + llm_server.count  # the probe was made and billed first
    assert llm_server.billed <= cap and result.prompt_tokens + result.completion_tokens <= cap
    # The probe's bill set the ratio: the units that fitted were reserved at it, so none was
    # billed beyond the cap, and those that did not fit are reported.
    assert {u.status for u in result.units} <= {"reviewed", "not reviewed: budget"}
    assert any(u.status == "reviewed" for u in result.units)


def test_a_probe_that_does_not_fit_makes_no_call(llm_server, tmp_path):
    result = review.run(result_for(patch_for("app/a.py", ["x = 1"]), budget_tokens=300),
                        config_for(llm_server.url, tmp_path))
    assert llm_server.count == 0 and not llm_server.probes and not result.complete
    assert result.units[0].status == "not reviewed: budget"
    assert "tokens" in result.units[0].reason


def test_a_probe_is_made_once_per_model_and_never_cached(llm_server, tmp_path):
    patch = "".join(patch_for(f"app/m{i}.py", ["x = 1"]) for i in range(3))
    config = config_for(llm_server.url, tmp_path, max_concurrency=4, cache=True)
    review.run(result_for(patch), config)
    assert len(llm_server.probes) == 1 and llm_server.count == 3
    again = review.run(result_for(patch), config)  # every unit from the cache: no probe
    assert len(llm_server.probes) == 1 and llm_server.count == 3 and again.cached_calls == 3
