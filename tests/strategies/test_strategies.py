"""The strategy registry, their costs and the miss-probability model."""

from __future__ import annotations

import itertools

import pytest

from cartriage import config as configuration
from cartriage import strategies
from cartriage.allocation import strategy_table
from cartriage.allocation.cost import estimate_prompt_tokens
from cartriage.analysis.facts import Unit
from cartriage.strategies.miss import (
    catch_by_tier,
    effective_samples,
    judged,
    observed_miss,
    sampled_miss,
)


def params(**values):
    base = {"recall": 0.5, "difficulty_slope": 0.0, "sample_correlation": 0.8,
            "model_correlation": 0.48, "models": []}
    return base | values


def test_registry_lists_the_strategies_cheapest_first_with_a_table_each():
    assert strategies.names() == ("skip", "single", "multi", "deliberate")
    settings = configuration._defaults()
    assert tuple(settings.strategies) == strategies.names()
    assert [s.sends for s in strategies.all_strategies()] == [False, True, True, True]


def test_prompt_estimate_grows_with_lines_and_hunks():
    small = Unit(id="a.py", path="a.py", hunks=(0,), added=1, removed=0)
    large = Unit(id="a.py", path="a.py", hunks=(0, 1, 2), added=200, removed=50)
    assert estimate_prompt_tokens(small) < estimate_prompt_tokens(large)
    assert estimate_prompt_tokens(small, overhead=0) > 0


def test_costs_rise_and_default_misses_fall_with_depth():
    table = strategy_table(configuration.load(env={}), usd=False)
    tokens = table.tokens(__import__("numpy").array([1000.0]))[0]
    assert tokens[0] == 0 and list(tokens) == sorted(tokens)
    # deliberate: 5 samples and a judge that reads the prompt and 5 candidates
    assert tokens[3] == 6 * 1000 + 400 + 5 * 500 + 6 * 500
    assert table.miss_tier[0].tolist() == [1.0, 1.0, 1.0]
    medium = table.miss_tier[:, 1]
    assert medium[0] > medium[1] > medium[2] > medium[3]
    # harder defects are missed more often by every reviewing strategy
    assert all(row[0] < row[1] < row[2] for row in table.miss_tier[1:])


def test_catch_by_tier_follows_recall_and_slope():
    assert catch_by_tier(0.5, 0.35) == pytest.approx((0.675, 0.5, 0.325))
    assert catch_by_tier(0.98, 0.2) == pytest.approx((0.99, 0.98, 0.88))


def test_different_models_are_worth_more_than_repeats():
    repeats = sampled_miss(params(), 3)[1]
    different = sampled_miss(params(models=["a", "b", "c"]), 3)[1]
    assert different < repeats < 0.5
    assert effective_samples(3, [], 1.0, 0.0) == 1.0  # identical repeats add nothing
    assert effective_samples(3, ["a", "b", "c"], 1.0, 0.0) == 3.0


def test_default_model_correlation_reproduces_published_coverage():
    # 2, 3 and 4 different models covered 57%, 75% and 89% of 154 defects; single ~50%
    defaults = configuration.load(env={}).strategy("multi")
    for count, published in ((2, 0.57), (3, 0.75), (4, 0.89)):
        values = params(model_correlation=defaults["model_correlation"],
                        models=[f"m{i}" for i in range(count)])
        coverage = 1 - sampled_miss(values, count)[1]
        assert abs(coverage - published) < 0.09


def test_judge_can_only_lose_a_catch():
    assert judged(0.2, 1.0) == pytest.approx(0.2)
    assert judged(0.2, 0.9) == pytest.approx(1 - 0.8 * 0.9)


def test_observed_miss_equals_enumerating_draws_without_replacement():
    for attempts, successes, draws in [(5, 2, 1), (5, 2, 3), (6, 1, 2), (4, 0, 2), (4, 4, 1)]:
        outcomes = [True] * successes + [False] * (attempts - successes)
        subsets = list(itertools.combinations(range(attempts), draws))
        all_wrong = sum(not any(outcomes[i] for i in s) for s in subsets)
        assert observed_miss(attempts, successes, draws) == pytest.approx(all_wrong / len(subsets))
    assert observed_miss(3, 1, 5) == 0.0  # more draws than attempts: capped at n
    assert observed_miss(3, 1, 0) == 1.0


def test_models_resolve_as_the_review_calls_them(tmp_path):
    (tmp_path / "cartriage.toml").write_text(
        '[llm]\nmodel = "openai/gpt-4o-mini"\n'
        '[strategies.single]\nmodels = ["anthropic/claude-haiku-4-5"]\n'
        '[strategies.deliberate]\nmodels = ["openai/gpt-4o", "openai/gpt-4o-mini"]\n',
        encoding="utf-8")
    settings = configuration.load(cwd=tmp_path, env={})
    single = strategies.settings(settings, "single")
    assert [c.model for c in strategies.get("single").calls(single)] == [
        "anthropic/claude-haiku-4-5"]
    deliberate = strategies.settings(settings, "deliberate")
    assert deliberate["judge_model"] == "openai/gpt-4o"  # the first sample's model
    assert strategies.get("deliberate").calls(deliberate)[-1].model == "openai/gpt-4o"
