"""allocate() and plan_batch(): plans from analysis and scores under the configured budget."""

from __future__ import annotations

import pytest

from cartriage import allocation
from cartriage import config as configuration
from cartriage.allocation.policies import POLICIES
from cartriage.errors import ConfigError
from tests.allocation.helpers import change

UNITS = [
    ("db/migrations/0042_drop_column.py", 40, "high", "medium"),
    ("app/auth/session.py", 60, "high", "high"),
    ("app/views/report.py", 120, "medium", "medium"),
    ("docs/guide.md", 300, "low", "low"),
    ("app/util/strings.py", 10, "low", "low"),
]


def load(tmp_path, text: str = "", **overrides):
    """The configuration for `text`; no value floor unless asked, so the budget is the limit."""
    (tmp_path / "cartriage.toml").write_text(text, encoding="utf-8")
    overrides.setdefault("budget.min_gain_per_1k_tokens", 0.0)
    return configuration.load(cwd=tmp_path, env={},
                              overrides={tuple(k.split(".")): v for k, v in overrides.items()})


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("budget", [0, 3000, 9000, 30000, 200000])
def test_every_policy_stays_within_the_budget(tmp_path, policy, budget):
    analysis, scores = change(UNITS)
    plan = allocation.allocate(analysis, scores, load(tmp_path, **{"budget.tokens": budget}),
                               policy=policy)
    assert plan.policy == policy
    assert plan.total_tokens <= budget
    assert plan.total_tokens == sum(a.est_tokens for a in plan.assignments)
    assert plan.expected_loss == pytest.approx(sum(a.expected_loss for a in plan.assignments))
    assert [a.unit_id for a in plan.assignments] == [u[0] for u in UNITS]


def test_consequence_aware_spends_on_what_a_miss_would_cost(tmp_path):
    analysis, scores = change(UNITS)
    plan = allocation.allocate(analysis, scores, load(tmp_path, **{"budget.tokens": 9000}),
                               policy="consequence-aware")
    assert plan.assignment("app/auth/session.py").strategy != "skip"
    assert plan.assignment("docs/guide.md").strategy == "skip"
    skipped = plan.assignment("docs/guide.md")
    assert skipped.reason.startswith("skipped:") and "/token" in skipped.reason
    reviewed = plan.assignment("app/auth/session.py")
    assert reviewed.value_per_token > 0 and "saves" in reviewed.reason
    assert plan.lower_bound <= plan.expected_loss
    assert any("skipped" in note for note in plan.details)


def test_rule_minimums_hold(tmp_path):
    text = ('[[rules]]\npath = "**/migrations/**"\nmin_strategy = "multi"\n'
            '[[rules]]\nhas_role = "docs"\nmin_strategy = "single"\n')
    analysis, scores = change(UNITS, roles={"docs/guide.md": ("docs",)})
    plan = allocation.allocate(analysis, scores, load(tmp_path, text, **{"budget.tokens": 12000}))
    migration = plan.assignment("db/migrations/0042_drop_column.py")
    assert migration.strategy in ("multi", "deliberate")
    assert migration.forced_by.startswith("rules[0]")
    assert plan.assignment("docs/guide.md").strategy != "skip"
    assert plan.assignment("docs/guide.md").forced_by.startswith("rules[1]")
    assert plan.total_tokens <= 12000 and not plan.unmet_minimums


def test_minimums_beyond_the_budget_keep_the_budget_and_say_so(tmp_path):
    text = '[[rules]]\npath = "**"\nmin_strategy = "deliberate"\n'
    analysis, scores = change(UNITS)
    plan = allocation.allocate(analysis, scores, load(tmp_path, text, **{"budget.tokens": 20000}))
    assert plan.total_tokens <= 20000
    assert plan.unmet_minimums
    assert any(note.startswith("OVER BUDGET") for note in plan.notes)
    # the high-consequence units keep their minimum first
    assert plan.assignment("app/auth/session.py").strategy == "deliberate"


def test_policy_comes_from_the_configuration(tmp_path):
    analysis, scores = change(UNITS)
    plan = allocation.allocate(analysis, scores, load(tmp_path, '[review]\npolicy = "uniform"\n'))
    assert plan.policy == "uniform"
    assert len({a.strategy for a in plan.assignments}) == 1  # 100k tokens: same everywhere
    with pytest.raises(ConfigError, match="unknown policy"):
        allocation.allocate(analysis, scores, load(tmp_path), policy="random")


def test_usd_budget_uses_litellm_prices(tmp_path):
    analysis, scores = change(UNITS)
    settings = load(tmp_path, '[llm]\nmodel = "gpt-4o-mini"\n[budget]\nusd = 0.002\n')
    plan = allocation.allocate(analysis, scores, settings)
    assert plan.budget_usd == 0.002 and plan.budget_tokens is None
    assert plan.total_usd <= 0.002
    assert all(a.est_usd is not None for a in plan.assignments)
    assert plan.total_usd == pytest.approx(sum(a.est_usd for a in plan.assignments))
    unknown = load(tmp_path, '[llm]\nmodel = "nobody/unknown-model-x"\n[budget]\nusd = 1.0\n')
    with pytest.raises(ConfigError, match="no price known"):
        allocation.allocate(analysis, scores, unknown)
    with pytest.raises(ConfigError, match="needs a model"):
        allocation.allocate(analysis, scores, load(tmp_path, "[budget]\nusd = 1.0\n"))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("tokens", "usd"), [(5000, 0.02), (60000, 0.002), (15000, 0.003),
                                             (0, 1.0), (200000, 0.0)])
def test_token_and_usd_budgets_both_hold(tmp_path, policy, tokens, usd):
    analysis, scores = change(UNITS)
    text = f'[llm]\nmodel = "gpt-4o-mini"\n[budget]\ntokens = {tokens}\nusd = {usd}\n'
    plan = allocation.allocate(analysis, scores, load(tmp_path, text), policy=policy)
    assert (plan.budget_tokens, plan.budget_usd) == (tokens, usd)
    assert plan.total_tokens <= tokens
    assert plan.total_usd <= usd + 1e-12
    assert "tokens" in plan.details[0] and "$" in plan.details[0]


def test_the_tighter_cap_binds_and_a_default_token_budget_gives_way_to_usd(tmp_path):
    analysis, scores = change(UNITS)
    usd_only = allocation.allocate(
        analysis, scores, load(tmp_path, '[llm]\nmodel = "gpt-4o-mini"\n[budget]\nusd = 0.01\n'))
    assert usd_only.budget_tokens is None  # the built-in 100,000 tokens do not apply
    assert usd_only.total_tokens > 12000  # so the dollars alone would buy more than 12k tokens
    both = allocation.allocate(analysis, scores, load(
        tmp_path, '[llm]\nmodel = "gpt-4o-mini"\n[budget]\ntokens = 12000\nusd = 0.01\n'))
    assert both.total_tokens <= 12000 and both.total_usd <= 0.01
    assert both.expected_loss >= usd_only.expected_loss
    # the LP bound of either cap alone stays a bound
    assert both.lower_bound <= both.expected_loss + 1e-9


def test_batch_shares_one_global_budget(tmp_path):
    risky = change([("app/auth/login.py", 80, "high", "high"), ("app/db/store.py", 50, "high",
                                                                 "medium")])
    tame = change([("docs/a.md", 80, "low", "low"), ("README.md", 50, "low", "low")])
    settings = load(tmp_path, **{"budget.tokens": 8000})
    batch = allocation.plan_batch([("abc123", *risky), ("def456", *tame)], settings)
    assert batch.total_tokens <= 8000
    assert [p.change for p in batch.plans] == ["abc123", "def456"]
    assert batch.total_tokens == sum(p.total_tokens for p in batch.plans)
    assert batch.plans[0].total_tokens > batch.plans[1].total_tokens
    assert batch.expected_loss == pytest.approx(sum(p.expected_loss for p in batch.plans))


def test_files_that_are_never_sent_get_no_budget(tmp_path):
    units = [("app/auth/session.py", 60, "high", "high"), (".env", 5, "high", "high"),
             ("deploy/server.key", 30, "high", "high")]
    analysis, scores = change(units)
    text = '[[rules]]\npath = "**"\nmin_strategy = "single"\n'
    for policy in POLICIES:
        plan = allocation.allocate(analysis, scores, load(tmp_path, text), policy=policy)
        for secret in (".env", "deploy/server.key"):
            assignment = plan.assignment(secret)
            assert assignment.strategy == "skip" and assignment.est_tokens == 0
            assert "secrets" in assignment.reason and assignment.forced_by is None
        assert plan.assignment("app/auth/session.py").strategy != "skip"
        assert not plan.unmet_minimums
        assert any(note.startswith("not sent, so not planned: .env") for note in plan.details)


def test_value_floor_stops_buying_reviews_that_save_too_little(tmp_path):
    analysis, scores = change(UNITS)
    spend_all = allocation.allocate(analysis, scores, load(tmp_path))
    floor = 0.5
    thrifty = allocation.allocate(analysis, scores,
                                  load(tmp_path, **{"budget.min_gain_per_1k_tokens": floor}))
    assert thrifty.total_tokens < spend_all.total_tokens
    assert thrifty.expected_loss >= spend_all.expected_loss
    assert any("min_gain_per_1k_tokens" in note for note in thrifty.details)
    names = list(allocation.strategy_table(load(tmp_path), False).names)
    for a in thrifty.assignments:
        deeper = spend_all.assignment(a.unit_id)
        if names.index(deeper.strategy) <= names.index(a.strategy):
            continue
        # the step the budget alone would have bought saves less than the floor per 1k tokens
        saved = a.expected_loss - deeper.expected_loss
        extra = deeper.est_tokens - a.est_tokens
        assert saved * 1000 < floor * extra * (1 + 1e-9)


def test_value_floor_keeps_minimums(tmp_path):
    analysis, scores = change(UNITS)
    text = '[[rules]]\npath = "**"\nmin_strategy = "multi"\n'
    plan = allocation.allocate(analysis, scores,
                               load(tmp_path, text, **{"budget.min_gain_per_1k_tokens": 100.0}))
    assert {a.strategy for a in plan.assignments} <= {"multi", "deliberate"}


def test_value_floor_leaves_the_baselines_alone_and_qualifies_the_bound(tmp_path):
    analysis, scores = change(UNITS)
    floor = {"budget.min_gain_per_1k_tokens": 0.02}
    uniform = allocation.allocate(analysis, scores, load(tmp_path, **floor), policy="uniform")
    assert len({a.strategy for a in uniform.assignments}) == 1
    weighted = allocation.allocate(analysis, scores, load(tmp_path, **{**floor,
                                                                      "budget.tokens": 60000}))
    assert any("min_gain_per_1k_tokens" in note for note in weighted.details)
    bound = next(note for note in weighted.details if "LP bound" in note)
    assert "within the budget and the value floor" in bound


def test_skip_reasons_are_true(tmp_path):
    from dataclasses import replace

    units = [("app/auth/session.py", 60, "high", "high"), ("data/dump.sql", 50_000, "high",
                                                           "high"), ("docs/a.md", 5, "low", "low")]
    analysis, scores = change(units)
    binary = replace(analysis.units[2], skip_reason="binary file: no text to review")
    analysis = replace(analysis, units=(*analysis.units[:2], binary))
    plan = allocation.allocate(analysis, scores, load(tmp_path, **{"budget.tokens": 100_000}))
    huge = plan.assignment("data/dump.sql")
    assert huge.strategy == "skip"
    assert huge.reason.startswith("skipped: too large for the budget: even single needs")
    assert "more than the whole budget of 100,000 tokens" in huge.reason
    logo = plan.assignment("docs/a.md")
    assert logo.strategy == "skip" and logo.est_tokens == 0
    assert logo.reason == "skipped: binary file: no text to review"
    assert plan.assignment("app/auth/session.py").strategy != "skip"
    # a floor that cuts every review says so, not that the budget went elsewhere
    thrifty = allocation.allocate(analysis, scores, load(
        tmp_path, **{"budget.min_gain_per_1k_tokens": 1000.0}))
    session = thrifty.assignment("app/auth/session.py")
    assert session.strategy == "skip" and "not worth its tokens" in session.reason
    assert "min_gain_per_1k_tokens" in session.reason


@pytest.mark.parametrize("budget", [0, 3000, 9000, 200000])
def test_a_plan_holds_no_numpy_objects(tmp_path, budget):
    """A cached plan is a pickle: a numpy scalar in it would load numpy on every warm plan."""
    import pickle

    analysis, scores = change(UNITS)
    plan = allocation.allocate(analysis, scores, load(tmp_path, **{"budget.tokens": budget}))
    assert b"numpy" not in pickle.dumps(plan)


def _long_function_change(repo, lines: int):
    from pathlib import Path

    from cartriage import intake, pipeline

    body = "".join(f"    total += {i} * weight  # step {i}\n" for i in range(lines))
    source = f"def score(weight):\n    total = 0\n{body}    return total\n"
    repo.commit("base", {"app/score.py": source, "app/use.py": "from app.score import score\n"
                                                                "print(score(2))\n"})
    repo.commit("change", {"app/score.py": source.replace("total = 0", "total = 1")})
    settings = configuration.load(cwd=repo.path, env={})
    return pipeline.triage(intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"), settings)


def test_each_strategy_is_priced_with_the_context_it_sends(repo, tmp_path):
    change_set, analysis, scores = _long_function_change(repo, 20)
    settings = load(tmp_path, "[strategies.single]\ncontext = \"hunks\"\n"
                    "[strategies.multi]\ncontext = \"function\"\nsamples = 2\n",
                    **{"budget.tokens": 1_000_000})
    bare = allocation.allocate(analysis, scores, settings)
    priced = allocation.allocate(analysis, scores, settings, change=change_set)
    (before,), (after,) = bare.assignments, priced.assignments
    assert before.context == "hunks" and before.strategy == after.strategy == "deliberate"
    assert after.context == "callers"
    context_tokens = after.est_prompt_tokens - before.est_prompt_tokens
    assert context_tokens > 20 * 10  # the 24-line function, conservatively counted
    # deliberate sends the prompt to each of its 5 samples and to the judge
    assert after.est_tokens - before.est_tokens == 6 * context_tokens


def test_context_counts_against_the_budget_and_a_level_too_large_falls_back(repo, tmp_path):
    change_set, analysis, scores = _long_function_change(repo, 400)  # ~3,700 context tokens
    settings = load(tmp_path, **{"budget.tokens": 9_000})
    plan = allocation.allocate(analysis, scores, settings, change=change_set)
    (assignment,) = plan.assignments
    assert plan.total_tokens <= 9_000
    assert assignment.context == "hunks" and assignment.strategy != "skip"
    assert "context over 3,000 tokens" in assignment.reason


def test_a_change_without_units_plans_nothing_with_context_on(repo, tmp_path):
    from pathlib import Path

    from cartriage import intake, pipeline

    repo.commit("base", {"README": "x\n"})
    repo.commit("empty")
    settings = configuration.load(cwd=repo.path, env={})
    change_set, analysis, scores = pipeline.triage(
        intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"), settings)
    plan = allocation.allocate(analysis, scores, load(tmp_path), change=change_set)
    assert plan.assignments == () and plan.total_tokens == 0


@pytest.mark.parametrize("enabled", [True, False])
def test_allocate_leaves_the_garbage_collector_as_it_found_it(tmp_path, enabled):
    """allocate() and plan_batch() pause the collector while they run, then restore it, also
    when they fail."""
    import gc

    analysis, scores = change(UNITS)
    config = load(tmp_path, **{"budget.tokens": 9000})
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        allocation.allocate(analysis, scores, config)
        assert gc.isenabled() is enabled
        allocation.plan_batch([("a", analysis, scores)], config)
        assert gc.isenabled() is enabled
        with pytest.raises(ConfigError):
            allocation.allocate(analysis, scores, config, policy="no-such-policy")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
