"""The `plan --batch` report, rendered from real plans made under one global budget."""

from __future__ import annotations

import json

from cartriage import allocation
from cartriage import config as configuration
from cartriage.intake.change import ChangeSet
from cartriage.report import batch as batch_report
from tests.allocation.helpers import change


def test_batch_report_shows_both_caps(tmp_path):
    (tmp_path / "cartriage.toml").write_text(
        '[llm]\nmodel = "gpt-4o-mini"\n[budget]\ntokens = 9000\nusd = 0.002\n', encoding="utf-8")
    settings = configuration.load(cwd=tmp_path, env={})
    risky = change([("app/auth/login.py", 80, "high", "high")])
    tame = change([("docs/a.md", 80, "low", "low")])
    batch = allocation.plan_batch([("abc123", *risky), ("def456", *tame)], settings)
    results = [(ChangeSet(source="abc123", files=(), title="Auth"), *risky),
               (ChangeSet(source="def456", files=(), title="Docs"), *tame)]
    text = batch_report.render("A..B", results, batch, "text")
    assert f"Planned {batch.total_tokens:,} of 9,000 tokens and $0." in text
    assert "of $0.0020;" in text
    document = json.loads(batch_report.render("A..B", results, batch, "json"))
    assert document["budget"] == {"tokens": 9000, "usd": 0.002}
    assert document["total_tokens"] <= 9000 and document["total_usd"] <= 0.002


def test_batch_text_keeps_square_brackets_in_notes(tmp_path):
    from cartriage.report import batch as batch_report

    class Batch:
        policy, budget_tokens, budget_usd = "consequence-aware", 1000, None
        total_tokens, total_usd, expected_loss, plans = 0, None, 0.0, ()
        notes = ("held back by [budget] min_gain_per_1k_tokens",)

    text = batch_report.render("A..B", [], Batch(), "text")
    assert "[budget] min_gain_per_1k_tokens" in text
