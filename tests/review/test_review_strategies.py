"""A strategy defined here, registered, then configured, planned and reviewed with: adding a
strategy touches no other module."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from llm_server import Reply, finding, findings
from review_support import AUTH_PATCH, MODEL, result_for

from cartriage import config as configuration
from cartriage import review, strategies
from cartriage.allocation import allocate, strategy_table
from cartriage.errors import ConfigError
from cartriage.strategies import Strategy
from cartriage.strategies.miss import catch_by_tier


@dataclass(frozen=True)
class Agreed(Strategy):
    """Two samples; only the findings both report are kept (precision over recall)."""

    def miss_by_tier(self, settings):
        return tuple(1 - c * c  # both samples must catch it
                     for c in catch_by_tier(settings["recall"], settings["difficulty_slope"]))

    def review(self, job, client, pool, reservation, tally):
        outcome = super().review(job, client, pool, reservation, tally)
        outcome.findings = [f for f in outcome.findings if f["support"] == job.samples]
        return outcome


AGREED = Agreed("agreed", depth=15, summary="two samples that must agree",
                defaults={"samples": 2, "temperature": 0.7, "context": "hunks"},
                bar=("green", "="))


@pytest.fixture
def agreed():
    strategies.register(AGREED)
    yield AGREED
    strategies.unregister(AGREED.name)


def load(tmp_path, text: str, server_url: str | None = None):
    (tmp_path / "cartriage.toml").write_text(text, encoding="utf-8")
    overrides = {} if server_url is None else {
        ("llm", "model"): MODEL, ("llm", "api_base"): server_url, ("llm", "timeout"): 2.0,
        ("llm", "retries"): 0}
    return configuration.load(cwd=tmp_path, env={"HOME": str(tmp_path)}, overrides=overrides)


def test_a_registered_strategy_is_configured_planned_and_reviewed(agreed, tmp_path, llm_server):
    assert strategies.names() == ("skip", "single", "agreed", "multi", "deliberate")
    settings = load(tmp_path, '[strategies.agreed]\noutput_tokens = 300\n\n'
                    '[[rules]]\npath = "app/*"\nmin_strategy = "agreed"\n', llm_server.url)
    assert settings.strategy("agreed")["samples"] == 2
    assert settings.sources["strategies.agreed.output_tokens"].endswith("cartriage.toml")
    table = strategy_table(settings, usd=False)
    column = table.names.index("agreed")
    assert table.attempts[column] == 2 and table.token_a[column] == 2
    assert table.miss_tier[column, 1] == pytest.approx(0.75)  # 1 - 0.5 ** 2 at medium recall

    base = result_for(AUTH_PATCH)
    # A budget that fits two samples but not three: the rule's minimum is the answer.
    budget = int(table.tokens(np.array([1000.0]))[0, column]) + 50
    plan = allocate(base.analysis, base.scores,
                    replace(settings, sections={**settings.sections,
                                                "budget": {**settings.sections["budget"],
                                                           "tokens": budget}}))
    (assignment,) = plan.assignments
    assert assignment.strategy == "agreed" and assignment.samples == 2
    assert "rules[0]" in assignment.forced_by

    llm_server.script(
        Reply(findings(finding("app/auth.py", 13, "Empty password is accepted", "critical"),
                       finding("app/auth.py", 14, "Audit before the check", "minor"))),
        Reply(findings(finding("app/auth.py", 13, "Empty password accepted", "critical"))))
    done = review.run(replace(base, plan=replace(plan, budget_tokens=100_000)), settings)
    assert llm_server.count == 2
    (unit,) = done.units
    assert unit.strategy == "agreed" and unit.status == "reviewed" and unit.samples == 2
    # The two samples run at once, so either may get the first scripted reply: the finding
    # both reported is kept (under the first sample's title), the other is not.
    assert [f.title for f in done.findings] in (["Empty password is accepted"],
                                                ["Empty password accepted"])


def test_registering_checks_the_name_depth_and_context(agreed):
    with pytest.raises(ConfigError, match="already registered"):
        strategies.register(AGREED)
    with pytest.raises(ConfigError, match="depth 15 is taken"):
        strategies.register(replace(AGREED, name="other"))
    with pytest.raises(ConfigError, match="context 'repo'"):
        strategies.register(replace(AGREED, name="other", depth=16,
                                    defaults={"context": "repo"}))


def test_an_unregistered_strategy_is_a_config_error_naming_the_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"cartriage.toml: unknown strategy \[strategies.agreed"):
        load(tmp_path, "[strategies.agreed]\nsamples = 2\n")
    with pytest.raises(ConfigError, match=r"rules\[0\].min_strategy' must be one of skip, "):
        load(tmp_path, '[[rules]]\npath = "*"\nmin_strategy = "agreed"\n')
