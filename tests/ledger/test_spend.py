"""The ledger from the command line: `review --pr` twice, `cartriage spend`, an unreachable
ledger, a plan (which opens no database), and a review killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from llm_server import Hang, LLMServer, Reply, finding, findings
from test_cli import cartriage, err, out

from cartriage.ledger import open_ledger

FILES = {"app/orders.py": "def total(order):\n    return sum(order.items)\n",
         "app/users.py": "def name(user):\n    return user.first\n"}


@pytest.fixture
def project(repo):
    repo.commit("Initial import", {"README.md": "shop\n"})
    repo.commit("Add orders and users", FILES)
    return repo


@pytest.fixture
def server():
    with LLMServer(lambda body: Reply(findings(finding("app/orders.py", 2, "Empty order")))) \
            as running:
        yield running


@pytest.fixture
def env(tmp_path, server):
    return {"CARTRIAGE_LLM__API_BASE": server.url, "CARTRIAGE_LLM__TIMEOUT": "20",
            "CARTRIAGE_LLM__CACHE": "false", "CARTRIAGE_LLM__MAX_CONCURRENCY": "1",
            "CARTRIAGE_LOG_DB": str(tmp_path / "logs.db"), "XDG_CONFIG_HOME": str(tmp_path / "c"),
            "GITHUB_ACTIONS": "", "CI_MERGE_REQUEST_IID": ""}


def review(project, env, *args):
    return cartriage("review", "HEAD~1", "--model", "openai/test-model", "--format", "json",
                     "--pr", "12", *args, cwd=project.path, env=env)


def test_a_second_run_of_a_pr_pays_for_nothing_unchanged(project, server, env):
    first = review(project, env)
    assert first.returncode == 0, err(first)
    calls = server.count
    assert calls >= 2 and json.loads(out(first))["review"]["reused"]["units"] == 0
    assert (project.path / ".git" / "cartriage" / "ledger.db").is_file()  # the default place

    second = review(project, env)
    assert second.returncode == 0, err(second)
    assert server.count == calls  # nothing sent again
    document = json.loads(out(second))
    assert document["review"]["reused"]["units"] == 2
    assert document["review"]["reused"]["tokens"] > 0
    assert document["review"]["prompt_tokens"] == 0
    assert [(f["title"], f["reused"]) for f in document["findings"]] == [("Empty order", True)]

    history = cartriage("spend", "--pr", "12", "--format", "json", cwd=project.path, env=env)
    assert history.returncode == 0, err(history)
    report = json.loads(out(history))
    assert [(r["reviewed"], r["reused"]) for r in report["pr"]["runs"]] == [(2, 0), (0, 2)]
    assert report["pr"]["repository"] == "repo"
    assert sum(row["calls"] for row in report["spend"]) == calls + len(server.probes) == calls + 1
    text = cartriage("spend", cwd=project.path, env=env)
    assert text.returncode == 0 and "openai/test-model" in out(text), err(text)


def test_an_unreachable_ledger_with_a_cap_is_exit_4_in_one_line(project, server, env):
    env = {**env, "LEDGER_PASSWORD": "hunter2", "CARTRIAGE_BUDGET__MONTHLY_TOKENS": "50000",
           "CARTRIAGE_LEDGER__URL": "postgresql://ci:${LEDGER_PASSWORD}@127.0.0.1:9/ledger"}
    done = review(project, env)
    assert done.returncode == 4, err(done)
    lines = err(done).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cartriage: error: ledger postgresql://ci:***@")
    assert "hunter2" not in err(done) + out(done)
    assert server.count == 0


def test_a_plan_opens_no_ledger(project, env, tmp_path):
    ledger = tmp_path / "ledger.db"
    env = {**env, "CARTRIAGE_LEDGER__URL": str(ledger), "CARTRIAGE_BUDGET__PER_PR_TOKENS": "1"}
    done = cartriage("plan", "HEAD~1", cwd=project.path, env=env)
    assert done.returncode == 0, err(done)
    assert not ledger.exists()


def test_spend_without_a_ledger_says_so(project, env):
    done = cartriage("spend", cwd=project.path, env=env)
    assert done.returncode == 2 and "no ledger at" in err(done)


def test_a_review_killed_mid_run_keeps_its_spend_and_its_hold_expires(project, tmp_path):
    answers = iter([Reply(findings())])
    with LLMServer(lambda body: next(answers, Hang(60))) as slow:
        env = {"CARTRIAGE_LLM__API_BASE": slow.url, "CARTRIAGE_LLM__TIMEOUT": "60",
               "CARTRIAGE_LLM__CACHE": "false", "CARTRIAGE_LLM__MAX_CONCURRENCY": "1",
               "CARTRIAGE_LEDGER__RESERVATION_TTL": "3", "XDG_CONFIG_HOME": str(tmp_path / "c"),
               "CARTRIAGE_LOG_DB": str(tmp_path / "logs.db")}
        runner = subprocess.Popen(
            [sys.executable, "-m", "cartriage", "review", "HEAD~1", "--model",
             "openai/test-model", "--pr", "12"], cwd=project.path,
            env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while slow.count < 2 and time.monotonic() < deadline:  # 1 answered, 1 in flight
                time.sleep(0.05)
            assert slow.count == 2
            runner.send_signal(signal.SIGKILL)
            assert runner.wait(10) == -signal.SIGKILL
        finally:
            runner.kill()
    ledger = open_ledger(str(project.path / ".git" / "cartriage" / "ledger.db"))
    spent = ledger.totals().spent.tokens
    # The answered calls: the model's billing probe and the first unit's.
    assert spent > 0 and [row.calls for row in ledger.spend()] == [2]
    time.sleep(3.2)
    totals = ledger.totals()
    assert totals.reserved.tokens == 0 and totals.spent.tokens == spent
    ledger.close()


def test_cartriage_config_masks_the_ledger_password(project, env):
    env = {**env, "CARTRIAGE_LEDGER__URL": "postgresql://ci:hunter2@db/ledger"}
    done = cartriage("config", cwd=project.path, env=env)
    assert done.returncode == 0 and "postgresql://ci:***@db/ledger" in out(done), err(done)
    assert "hunter2" not in out(done)
