"""`cartriage calibrate` end to end: a real git repository, the scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from llm_server import LLMServer, Reply, confirm_all, finding, findings, prompt_text
from test_cli import cartriage, err, out

from cartriage.errors import InputError

FILES = {
    "app/orders.py": (
        "AUDIT = FLAG\n# Stock reservations.\n#\n# Orders take stock.\n#\n"
        "def reserve(stock, order, limit):\n"
        "    if order is None:\n"
        "        raise ValueError('no order')\n"
        "    if order.count > limit:\n"
        "        return None\n"
        "    left = stock.take(order.item, order.count)\n"
        "    return left[order.count - 1]\n"),
    "app/billing.py": (
        "MARKER = FLAG\n# Billing.\n#\n# Charges accounts.\n#\n"
        "def charge(account, amount, currency):\n"
        "    if amount <= 0:\n"
        "        return False\n"
        "    total = convert(amount, currency)\n"
        "    return account.debit(total, currency)\n"),
    "web/cart.js": (
        "const flag = FLAG;\n// Cart.\n//\n// Totals.\n//\n"
        "function total(items, rate) {\n"
        "  if (!items) {\n"
        "    return 0;\n"
        "  }\n"
        "  return scale(items.length, rate) >= rate;\n"
        "}\n"),
}
ORIGINAL = {line for text in FILES.values() for line in text.splitlines()}
ADDED = re.compile(r"^\s*(\d+) \+ (.*)$", re.M)


def responder(body):
    """A reviewer that sees rewritten lines only when it samples (temperature > 0), always
    flags the FLAG line (a false finding), and whose judge confirms every candidate."""
    text = prompt_text(body)
    if "final judge" in text:
        return confirm_all(text)
    path = re.search(r"File: (\S+)", text).group(1)
    found = []
    for number, line in ADDED.findall(text):
        if "FLAG" in line:
            found.append(finding(path, int(number), f"Undefined name in {line.strip()}"))
        elif line not in ORIGINAL and body.get("temperature", 0) > 0:
            found.append(finding(path, int(number), f"Wrong logic: {line.strip()}"))
    return Reply(findings(*found))


@pytest.fixture
def project(repo):
    base = repo.commit("Initial import", {"README.md": "# shop\n"})
    for path, text in FILES.items():
        repo.commit(f"Add {path}", {path: text})
    return repo, base


@pytest.fixture
def server():
    with LLMServer(responder) as running:
        yield running


def calibrate(project, env, *args):
    repo, base = project
    return cartriage("calibrate", f"{base}..HEAD", "--model", "openai/test-model", "--units",
                     "3", "--clean", "0.34", "--format", "json", *args, cwd=repo.path, env=env)


def plan_json(repo, capsys) -> dict:
    """`cartriage plan HEAD~1 --format json`, in process (planning never imports litellm)."""
    from cartriage.commands import plan

    assert plan.run(repo=repo.path, config=None, budget=None, policy=None, fmt="json",
                    output=None, quiet=False, verbose=False, rev="HEAD~1") == 0
    return json.loads(capsys.readouterr().out)


def test_calibrate_measures_writes_the_file_resumes_and_changes_the_plan(project, server, env,
                                                                          tmp_path, capsys):
    repo = project[0]
    default_plan = plan_json(repo, capsys)
    done = calibrate(project, env)
    assert done.returncode == 0, err(done)
    report = json.loads(out(done))
    cases = report["cases"]
    assert len(cases) == 3 and sum(c["kind"] == "clean" for c in cases) == 1
    injected = [c for c in cases if c["kind"] != "clean"]
    rewritten = [c for c in injected if "(removed)" not in c["injected"]]
    rows = {(r["strategy"], r["tier"]): r for r in report["report"]}
    single, multi = rows[("single@hunks", "all")], rows[("multi@function", "all")]
    assert (single["injected"], single["detected"]) == (2, 0)  # temperature 0 sees nothing
    assert multi["detected"] == rows[("deliberate@callers", "all")]["detected"] == len(rewritten)
    assert single["false_per_clean"][0] == multi["false_per_clean"][0] == 1.0  # the FLAG line
    low, high = multi["detection"][1:]
    assert 0 <= low <= multi["detection"][0] <= high <= 1
    assert multi["tokens_per_unit"][0] > single["tokens_per_unit"][0] > 0
    assert report["strategies"]["single@hunks"]["miss"] == 1.0
    assert report["strategies"]["multi@function"]["miss"] == round(1 - len(rewritten) / 2, 4)
    assert "wrote" in err(done) and (repo.path / "cartriage-calibration.json").is_file()
    with sqlite3.connect(tmp_path / "logs.db") as db:
        assert db.execute("select count(*) from calibration_outcomes").fetchone()[0] == 9
        assert db.execute("select count(*) from responses where strategy = 'deliberate'"
                          ).fetchone()[0] >= 3

    calls = server.count
    again = calibrate(project, env, "--budget", "1")  # nothing left to spend: all resumed
    assert again.returncode == 0 and server.count == calls, err(again)
    assert json.loads(out(again))["resumed"] == 9

    from cartriage.commands import config

    assert config.run(repo=repo.path, config=None, fmt="text") == 0
    shown = capsys.readouterr().out
    assert "calibration.file" in shown and "found at" in shown
    assert "measured by `cartriage calibrate`" in shown
    after = plan_json(repo, capsys)
    assert any("measured by `cartriage calibrate`" in n for n in after["plan"]["notes"])
    assert not any("measured by" in n for n in default_plan["plan"]["notes"])
    miss = [a["miss_probability"] for a in after["plan"]["assignments"]]
    assert miss != [a["miss_probability"] for a in default_plan["plan"]["assignments"]]


def test_a_small_budget_stops_keeps_what_was_measured_and_resumes(project, server, env,
                                                                  monkeypatch, capsys):
    from cartriage.commands import calibrate as command

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    repo, base = project
    options = {"rev": f"{base}..HEAD", "data": None, "repo": repo.path, "config": None,
               "model": "openai/test-model", "units": 3, "strategies": "single,multi",
               "context": None, "clean": 0.34, "seed": 0, "out": repo.path / "part.json",
               "no_cache": False, "fmt": "json", "output": None, "quiet": True}
    assert command.run(budget="4000", **options) == 4  # the first call fits at a token a byte
    report = json.loads(capsys.readouterr().out)
    assert report["stopped"] and 0 < report["spent_tokens"] <= 4000
    measured = len({r["strategy"] for r in report["report"]})
    assert command.run(budget=None, **options) == 0
    finished = json.loads(capsys.readouterr().out)
    assert finished["resumed"] >= measured and not finished["stopped"]
    assert set(finished["strategies"]) == {"single@hunks", "multi@function"}

    options.update(strategies="single", context="hunks,function", out=repo.path / "ctx.json")
    assert command.run(budget=None, **options) == 0
    levels = json.loads(capsys.readouterr().out)
    assert set(levels["strategies"]) == {"single@hunks", "single@function"}  # hunks resumed
    assert levels["strategies"]["single@function"]["context"] == "function"
    assert levels["resumed"] >= len(levels["cases"])


@pytest.mark.parametrize("args, message", [
    (("--units", "0"), "--units 0"),
    (("--strategies", "single,best"), "--strategies"),
    (("--context", "function,repo"), "--context 'function,repo': use one or more of hunks, "),
    (("--data", "x.jsonl"), "not both"),
])
def test_bad_arguments_are_usage_errors(project, env, args, message):
    done = calibrate(project, env, *args)
    assert done.returncode == 2 and message in err(done)
    assert "Traceback" not in err(done)


def test_no_model_is_an_error_not_a_silent_pass(project, tmp_path):
    repo, base = project
    done = cartriage("calibrate", f"{base}..HEAD", cwd=repo.path,
                     env={"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "OPENAI_API_KEY": ""})
    assert done.returncode == 2 and "no LLM configured" in err(done)


def test_calibrate_on_change_records(tmp_path, server, env, monkeypatch, capsys):
    from cartriage.commands import calibrate as command

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    records = []
    for number, (path, text) in enumerate(FILES.items()):
        lines = text.splitlines()
        diff = (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n"
                f"+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n"
                + "".join(f"+{line}\n" for line in lines))
        records.append({"id": f"shop@{number}", "title": f"Add {path}", "diff": diff})
    data = tmp_path / "changes.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert command.run(rev=None, data=str(data), repo=tmp_path, config=None, budget=None,
                       model="openai/test-model", units=3, strategies="single", context=None,
                       clean=0.0, seed=1, out=tmp_path / "cal.json", no_cache=False, fmt="text",
                       output=None, quiet=True) == 0
    text = capsys.readouterr().out
    assert "3 units (3 with an injected defect, 0 clean)" in text
    assert re.search(r"single@hunks\s+all\s+0/3\s+0%", text)
    written = json.loads((tmp_path / "cal.json").read_text())
    assert written["strategies"]["single@hunks"] == {
        "context": "hunks", "miss": 1.0, "injected": 3, "by_tier": written["strategies"][
            "single@hunks"]["by_tier"]}
    data.write_text('{"id": "x", "diff": 3}\n')
    with pytest.raises(InputError, match="field 'diff' must be a string"):
        command.run(rev=None, data=str(data), repo=tmp_path, config=None, budget=None,
                    model="openai/test-model", units=3, strategies="single", context=None,
                    clean=0.0, seed=1, out=None, no_cache=False, fmt="text", output=None,
                    quiet=True)
