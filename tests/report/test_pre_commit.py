"""The hooks in .pre-commit-hooks.yaml, run by the real `pre-commit try-repo`.

pre-commit builds a virtualenv and pip-installs cartriage with all its dependencies into it
from the configured package index (wheels only, nothing is built but cartriage itself): 53 s
on 2 quiet cores, 93-111 s with other jobs running, so it runs by default. Set
CARTRIAGE_TEST_PRE_COMMIT=0 to leave it out (e.g. on a machine without a package index).
pip's own cache is the user's real one (the suite points XDG_CACHE_HOME at a temporary
folder), so wheels it holds are reused.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from report_support import PIP_CACHE, source_snapshot
from report_support import REPO_ROOT as ROOT

slow = pytest.mark.skipif(
    os.environ.get("CARTRIAGE_TEST_PRE_COMMIT", "1") == "0",
    reason="CARTRIAGE_TEST_PRE_COMMIT=0: pre-commit try-repo (installs cartriage) left out",
)


def test_hooks_file_declares_both_hooks():
    yaml = pytest.importorskip("yaml")  # comes with pre-commit (the test extra)
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    review, plan = hooks["cartriage"], hooks["cartriage-plan"]
    assert review["stages"] == ["pre-push", "manual"]
    for h in (review, plan):
        assert h["language"] == "python" and h["pass_filenames"] is False
        assert h["require_serial"] is True
    assert "--plan-only" in plan["entry"]


@slow
def test_try_repo_runs_both_hooks_on_pre_push(repo, tmp_path):
    base = repo.commit("root", {"app/auth.py": "def login(user):\n    return True\n"})
    head = repo.commit("check the password", {
        "app/auth.py": "def login(user, password):\n    return user.check(password)\n",
        "migrations/0002_drop_email.sql": "ALTER TABLE users DROP COLUMN email;\n"})
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
           "PIP_CONSTRAINT": str(ROOT / "constraints.txt"), "PIP_CACHE_DIR": PIP_CACHE}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(source_snapshot(tmp_path)),
         "--hook-stage", "pre-push", "--from-ref", base, "--to-ref", head, "--verbose"],
        cwd=repo.path, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "cartriage review" in out and "cartriage plan" in out
    assert out.count("Passed") == 2
    assert "migrations/0002_drop_email.sql" in out and "app/auth.py" in out
    assert "no LLM configured" in out  # the review hook without a model prints the plan
