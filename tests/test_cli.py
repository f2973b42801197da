"""The command line end to end, in real git repositories, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cartriage import __version__
from cartriage.commands.common import parse_budget
from cartriage.config import UNSET
from cartriage.errors import UsageError

PATCH = b"""\
diff --git a/app/auth.py b/app/auth.py
--- a/app/auth.py
+++ b/app/auth.py
@@ -1,3 +1,3 @@
 def can_edit(user, doc):
-    return user.is_admin
+    return user.is_admin or doc.owner == user
 # end
"""


def cartriage(*args: str, cwd: Path, stdin: bytes | None = None, env: dict | None = None):
    full_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | (env or {})
    return subprocess.run([sys.executable, "-m", "cartriage", *args], cwd=cwd, input=stdin,
                          capture_output=True, env=full_env, check=False)


def out(done) -> str:
    return done.stdout.decode("utf-8", errors="replace")


def err(done) -> str:
    return done.stderr.decode("utf-8", errors="replace")


@pytest.fixture
def project(repo):
    repo.commit("Initial import", {"app/auth.py": "def can_edit(user, doc):\n"
                                   "    return user.is_admin\n# end\n",
                                   "README.md": "# demo\n"})
    repo.commit("Let owners edit their documents\n\nOwners could not edit.",
                {"app/auth.py": "def can_edit(user, doc):\n"
                 "    return user.is_admin or doc.owner == user\n# end\n",
                 "docs/guide.md": "How to edit.\n"})
    return repo


def test_version_and_help(tmp_path):
    done = cartriage("--version", cwd=tmp_path)
    assert done.returncode == 0 and out(done).strip() == f"cartriage {__version__}"
    done = cartriage("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("review", "plan", "explain", "init", "config"):
        assert command in out(done)


def test_plan_last_commit_text_and_json(project):
    done = cartriage("plan", "HEAD~1", cwd=project.path)
    assert done.returncode == 0, err(done)
    assert "app/auth.py" in out(done) and "docs/guide.md" in out(done)
    done = cartriage("plan", "HEAD~1", "--format", "json", cwd=project.path)
    assert done.returncode == 0, err(done)
    document = json.loads(out(done))
    assert document["schema_version"] == 1
    assert document["change"]["title"] == "Let owners edit their documents"
    assert document["kind"] == "plan" and document["review"] is None
    units = {a["unit_id"] for a in document["plan"]["assignments"]}
    assert units == {"app/auth.py", "docs/guide.md"}


def test_review_without_a_model_prints_the_plan_and_how_to_configure(project, tmp_path):
    report = tmp_path / "plan.json"
    done = cartriage("review", "HEAD~1", "--format", "json", "--output", str(report),
                     cwd=project.path)
    assert done.returncode == 0, err(done)
    assert "no LLM configured" in err(done) and "--model" in err(done)
    assert json.loads(report.read_text())["review"] is None


def test_diff_from_file_and_stdin_outside_a_repository(tmp_path):
    patch = tmp_path / "change.diff"
    patch.write_bytes(PATCH)
    for args, stdin in ((["--diff", str(patch)], None), (["--diff", "-"], PATCH)):
        done = cartriage("plan", *args, "--format", "json", cwd=tmp_path, stdin=stdin)
        assert done.returncode == 0, err(done)
        document = json.loads(out(done))
        assert [u["path"] for u in document["analysis"]["units"]] == ["app/auth.py"]
        assert "no repository" in " ".join(document["analysis"]["notes"]).lower()


def test_issue_alone_is_triaged(tmp_path):
    issue = tmp_path / "issue.md"
    issue.write_text("Password reset tokens never expire\n\nAnyone with an old reset link "
                     "can take over the account.\n", encoding="utf-8")
    done = cartriage("plan", "--issue", str(issue), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, err(done)
    document = json.loads(out(done))
    assert document["scores"]["change"]["tier"] in ("low", "medium", "high")


def test_empty_change_is_nothing_to_review(project):
    project.commit("empty")
    done = cartriage("review", "HEAD~1", cwd=project.path)
    assert done.returncode == 0
    assert "Nothing to review" in out(done)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plan", "no-such-rev"], 3, "unknown revision: 'no-such-rev'"),
        (["plan", "HEAD~1", "--staged"], 2, "give one change to review"),
        (["plan", "HEAD~1", "--format", "yaml"], 2, "unknown --format 'yaml'"),
        (["plan", "HEAD~1", "--budget", "lots"], 2, "--budget 'lots'"),
        (["plan", "--diff", "missing.diff"], 3, "no such file"),
        (["review", "HEAD~1", "--fail-on", "sever"], 2, "'review.fail_on' must be one of"),
    ],
)
def test_errors_are_one_line_with_distinct_exit_codes(project, args, code, message):
    done = cartriage(*args, cwd=project.path)
    assert done.returncode == code, err(done)
    assert message in err(done)
    assert "Traceback" not in err(done) and len(err(done).strip().splitlines()) == 1


def test_not_a_repository_and_malformed_patch(tmp_path):
    done = cartriage("plan", "HEAD~1", cwd=tmp_path)
    assert done.returncode == 3 and "not a git repository" in err(done)
    prose = tmp_path / "notes.txt"
    prose.write_text("not a patch at all\n", encoding="utf-8")
    done = cartriage("plan", "--diff", str(prose), cwd=tmp_path)
    assert done.returncode == 3 and "no diff found" in err(done)
    empty = tmp_path / "empty.diff"
    empty.write_bytes(b"")
    done = cartriage("plan", "--diff", str(empty), cwd=tmp_path)
    assert done.returncode == 0 and "Nothing to review" in out(done)
    bad = tmp_path / "bad.diff"
    bad.write_bytes(b"--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n?? junk\n")
    done = cartriage("plan", "--diff", str(bad), cwd=tmp_path)
    assert done.returncode == 3 and "line 5" in err(done) and "Traceback" not in err(done)


def test_invalid_config_names_the_key(project):
    (project.path / "cartriage.toml").write_text("[budget]\ntokenz = 5\n", encoding="utf-8")
    done = cartriage("plan", "HEAD~1", cwd=project.path)
    assert done.returncode == 2
    assert "unknown key 'budget.tokenz' (did you mean 'budget.tokens'?)" in err(done)
    done = cartriage("plan", "HEAD~1", "--debug", cwd=project.path)
    assert done.returncode != 0 and "Traceback" in err(done)


def test_init_then_config_shows_sources(project):
    done = cartriage("init", cwd=project.path)
    assert done.returncode == 0 and (project.path / "cartriage.toml").is_file()
    assert cartriage("init", cwd=project.path).returncode == 2  # exists: needs --force
    done = cartriage("config", "--format", "json", cwd=project.path,
                     env={"CARTRIAGE_BUDGET__TOKENS": "1234"})
    assert done.returncode == 0, err(done)
    values = {row["key"]: row for row in json.loads(out(done))["values"]}
    assert values["budget.tokens"]["value"] == 1234
    assert values["budget.tokens"]["source"] == "environment $CARTRIAGE_BUDGET__TOKENS"
    assert values["weights.high"]["source"] == "default"


def test_parse_budget():
    assert parse_budget("50k") == {("budget", "tokens"): 50_000, ("budget", "usd"): UNSET}
    assert parse_budget("120000")[("budget", "tokens")] == 120_000
    assert parse_budget("$0.50") == {("budget", "usd"): 0.5, ("budget", "tokens"): UNSET}
    assert parse_budget("2usd")[("budget", "usd")] == 2.0
    with pytest.raises(UsageError):
        parse_budget("soon")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown", "rdjsonl"])
def test_nothing_to_review_still_writes_a_valid_report(project, tmp_path, fmt):
    project.commit("only a lock file", {"poetry.lock": "x\n"})
    report = tmp_path / f"report.{fmt}"
    done = cartriage("review", "HEAD~1", "-f", fmt, "-o", str(report), cwd=project.path)
    assert done.returncode == 0, err(done)
    assert "nothing to review" in err(done) and "match [ignore]" in err(done)
    text = report.read_text(encoding="utf-8")
    if fmt == "json":
        document = json.loads(text)
        assert document["coverage"]["units"] == 0 and document["plan"]["assignments"] == []
        assert "all 1 changed files match [ignore]" in document["nothing_to_review"]
        assert document["change"]["ignored"] == ["poetry.lock"]
    elif fmt == "sarif":
        run = json.loads(text)["runs"][0]
        assert run["results"] == []
        notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
        assert any("nothing to review" in n for n in notes)
        assert "poetry.lock ignored: matches [ignore], not reviewed" in notes
    elif fmt == "rdjsonl":
        assert text.strip() == ""  # zero diagnostics is a valid rdjsonl stream
    else:
        assert "othing to review" in text and "poetry.lock" in text
    piped = cartriage("plan", "HEAD~1", "-f", "json", cwd=project.path)
    assert json.loads(out(piped))["nothing_to_review"]


def test_ignored_files_are_named_in_text_and_markdown(project):
    project.commit("code and a lock file", {"app/auth.py": "def can_edit(user, doc):\n"
                                            "    return False\n# end\n",
                                            "package-lock.json": "{}\n"})
    for fmt in ("text", "markdown"):
        done = cartriage("plan", "HEAD~1", "-f", fmt, cwd=project.path)
        assert done.returncode == 0, err(done)
        assert "Ignored ([ignore], not reviewed):" in out(done)
        assert "package-lock.json" in out(done)


def test_a_closed_pipe_ends_quietly(project):
    """`cartriage config -f json | head -c 1`: no traceback, no "internal error"."""
    for args in (["config", "-f", "json"], ["plan", "HEAD~1", "-f", "json"], ["--help"]):
        command = " ".join([sys.executable, "-m", "cartriage", *args])
        done = subprocess.run(["bash", "-c", f"{command} | head -c 1 >/dev/null; "
                               "echo ${PIPESTATUS[0]}"], cwd=project.path, capture_output=True,
                              check=False)
        assert out(done).strip() in ("0", "141"), err(done)
        assert err(done) == ""
    # deterministic: the reader is gone before the first byte is written
    for args in (["config", "-f", "json"], ["plan", "HEAD~1"]):
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run([sys.executable, "-m", "cartriage", *args], stdout=write,
                                  stderr=subprocess.PIPE, cwd=project.path, check=False)
        finally:
            os.close(write)
        assert done.returncode == 141 and err(done) == "", (args, err(done))


def test_help_offers_only_the_formats_a_command_accepts(tmp_path):
    for command in ("config", "explain", "bench"):
        done = cartriage(command, "--help", cwd=tmp_path, env={"COLUMNS": "200"})
        assert "text or json." in out(done) and "sarif" not in out(done), command
    done = cartriage("plan", "--help", cwd=tmp_path, env={"COLUMNS": "200"})
    assert "sarif, markdown or rdjsonl" in out(done)


def test_output_in_a_missing_folder_is_refused_before_any_work(project, tmp_path):
    target = tmp_path / "no-such-folder" / "report.json"
    for command in ("plan", "review", "explain"):
        done = cartriage(command, "HEAD~1", "-f", "json", "-o", str(target), cwd=project.path)
        assert done.returncode == 3, err(done)
        assert f"the folder {target.parent} does not exist" in err(done)


def test_coverage_gates_hold_in_plan_only_mode(project):
    """A zero budget skips every unit: --require-coverage low must fail, with or without a
    model, and the hook's --plan-only too."""
    done = cartriage("hook", "run", "--plan-only", "--require-coverage", "low", "--budget", "0",
                     cwd=project.path, env={"PRE_COMMIT_FROM_REF": "HEAD~1",
                                            "PRE_COMMIT_TO_REF": "HEAD"})
    assert done.returncode == 1, err(done) + out(done)
    assert "Skipped by the plan" in out(done)
    done = cartriage("review", "HEAD~1", "--require-coverage", "low", "--budget", "0",
                     cwd=project.path)
    assert done.returncode == 1 and "no LLM configured" in err(done)
    done = cartriage("hook", "run", "--plan-only", "--require-coverage", "low",
                     cwd=project.path, env={"PRE_COMMIT_FROM_REF": "HEAD~1",
                                            "PRE_COMMIT_TO_REF": "HEAD"})
    assert done.returncode == 0, err(done) + out(done)


def test_binary_files_are_planned_as_skipped(project):
    project.commit("a logo", {"assets/logo.png": bytes(range(256)) * 8})
    done = cartriage("plan", "HEAD~1", "-f", "json", cwd=project.path)
    assert done.returncode == 0, err(done)
    document = json.loads(out(done))
    (assignment,) = document["plan"]["assignments"]
    assert assignment["strategy"] == "skip" and assignment["est_tokens"] == 0
    assert assignment["reason"] == "skipped: binary file: no text to review"
    assert document["analysis"]["units"][0]["skip_reason"] == "binary file: no text to review"


def test_the_command_named_first_is_built_alone_with_the_same_help_and_options():
    import typer

    from cartriage import cli

    def options(command) -> list[tuple]:
        return [(p.name, p.opts, p.secondary_opts, p.required, repr(p.default),
                 getattr(p, "help", None), repr(p.type_descriptor.annotation))
                for p in command.params]

    def described(group, name: str) -> tuple:
        command = group.commands[name]
        parent = typer.main._click.Context(group, info_name="cartriage")
        context = typer.main._click.Context(command, info_name=name, parent=parent)
        return options(command), command.get_help(context)

    every = typer.main.get_command(cli.app)
    assert {"plan", "review", "config", "hook"} <= set(every.commands)
    for name in every.commands:
        alone = cli._command(name)
        assert list(alone.commands) == [name]
        assert described(alone, name) == described(every, name), name
        assert options(alone) == options(every)
    for first in ("--help", "--version", "pln", "show-config"):
        assert list(cli._command(first).commands) == list(every.commands), first
