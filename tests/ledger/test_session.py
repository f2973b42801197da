"""A review run with the ledger: per-PR caps across runs, incremental re-review, refusal when
the ledger cannot be reached. Runs in-process against the local OpenAI-compatible server."""

from __future__ import annotations

import pytest
from llm_server import LLMServer, Reply, finding, findings, prompt_text
from review.review_support import config_for, patch_for, result_for

from cartriage.config import load
from cartriage.errors import EXIT_INCOMPLETE, UsageError
from cartriage.ledger import LedgerUnavailable, Scope, open_ledger
from cartriage.review import run

FILES = {f"app/mod{i}.py": [f"def handler_{i}(request):", f"    return compute_{i}(request)"]
         for i in range(4)}
NO_REPOSITORY = ""  # a patch read without a repository, no CI, no [ledger] repository


def patch(files: dict[str, list[str]], start: dict[str, int] | None = None) -> str:
    return "".join(patch_for(path, lines, (start or {}).get(path, 1))
                   for path, lines in files.items())


def responder(body):
    """One finding on the second line of whichever file the prompt is about."""
    text = prompt_text(body)
    for path in FILES:
        if path in text:
            line = next(int(row.split()[0]) for row in text.splitlines()
                        if row.strip().startswith(tuple("0123456789")) and "return" in row)
            return Reply(findings(finding(path, line, f"Unchecked request in {path}")))
    return Reply(findings())


@pytest.fixture
def server():
    with LLMServer(responder) as running:
        yield running


def config(server, tmp_path, url: str | None = None, **budget):
    base = config_for(server.url, tmp_path, cache=False)
    overrides = {("llm", "model"): base.get("llm", "model"),
                 ("llm", "api_base"): server.url, ("llm", "cache"): False,
                 ("llm", "backoff"): 0.01, ("ledger", "url"): url or str(tmp_path / "l.db")}
    overrides.update({("budget", key): value for key, value in budget.items()})
    return load(cwd=tmp_path, env={"HOME": str(tmp_path)}, overrides=overrides)


def test_a_rerun_reviews_only_changed_units_and_carries_findings(server, tmp_path):
    settings = config(server, tmp_path)
    first = run(result_for(patch(FILES)), settings, pr="7")
    assert server.count == 4 and first.reused_units == 0
    assert {u.status for u in first.units} == {"reviewed"}
    spent_first = first.prompt_tokens + first.completion_tokens

    pushed = dict(FILES)
    pushed["app/mod0.py"] = [*FILES["app/mod0.py"], "    # retried"]  # changed content
    moved = {"app/mod1.py": 40}  # same content, 39 lines further down
    second = run(result_for(patch(pushed, moved)), settings, pr="7")
    assert server.count == 5  # only app/mod0.py was sent again
    assert second.reused_units == 3 and second.reused_findings == 3
    assert 0 < second.prompt_tokens + second.completion_tokens < spent_first
    assert second.reused_tokens == spent_first - (
        first.units[0].prompt_tokens + first.units[0].completion_tokens)
    by_file = {f.file: f for f in second.findings}
    assert not by_file["app/mod0.py"].reused
    assert by_file["app/mod1.py"].reused and by_file["app/mod1.py"].line_start == 41
    assert by_file["app/mod1.py"].reanchored
    assert by_file["app/mod2.py"].reused and by_file["app/mod2.py"].line_start == 2
    assert any("reused" in note for note in second.notes)

    other_pr = run(result_for(patch(FILES)), settings, pr="8")
    assert server.count == 9 and other_pr.reused_units == 0  # reuse is per PR

    ledger = open_ledger(str(tmp_path / "l.db"))
    history = ledger.runs(NO_REPOSITORY, "7")
    assert [(r.reviewed, r.reused) for r in history] == [(4, 0), (1, 3)]
    ledger.close()


def test_a_changed_strategy_or_model_is_reviewed_again(server, tmp_path):
    settings = config(server, tmp_path)
    run(result_for(patch(FILES)), settings, pr="7")
    again = run(result_for(patch(FILES), strategy="multi", samples=2), settings, pr="7")
    assert again.reused_units == 0 and server.count == 4 + 8


def test_the_per_pr_cap_holds_across_runs(server, tmp_path):
    settings = config(server, tmp_path, per_pr_tokens=9_000)
    first = run(result_for(patch(FILES)), settings, pr="7")
    changed = {path: [*lines, "    # changed"] for path, lines in FILES.items()}
    second = run(result_for(patch(changed)), settings, pr="7")
    statuses = [u.status for u in first.units + second.units]
    assert "not reviewed: budget" in statuses  # the cap ran out on the way
    assert not second.complete
    ledger = open_ledger(str(tmp_path / "l.db"))
    totals = ledger.totals(Scope(NO_REPOSITORY, "7", ""))
    assert totals.spent.tokens <= 9_000 and totals.reserved.tokens == 0
    assert totals.spent.tokens == sum(r.prompt_tokens + r.completion_tokens
                                      for r in (first, second))
    ledger.close()


def test_an_unreachable_ledger_refuses_to_spend(server, tmp_path):
    settings = config(server, tmp_path, url="postgresql://cartriage:hunter2@127.0.0.1:9/x",
                      monthly_tokens=10_000)
    with pytest.raises(LedgerUnavailable) as caught:
        run(result_for(patch(FILES)), settings, pr="7")
    assert caught.value.exit_code == EXIT_INCOMPLETE
    message = str(caught.value)
    assert "hunter2" not in message and "***" in message and "\n" not in message
    assert server.count == 0


def test_a_per_pr_cap_needs_a_pull_request(server, tmp_path, monkeypatch):
    for name in ("GITHUB_ACTIONS", "CI_MERGE_REQUEST_IID"):
        monkeypatch.delenv(name, raising=False)
    settings = config(server, tmp_path, per_pr_tokens=9_000)
    with pytest.raises(UsageError, match="--pr"):
        run(result_for(patch(FILES)), settings)
    assert server.count == 0
