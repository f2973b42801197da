"""The CI templates in hooks/ work as written: their shell steps run, in order, in a temporary
repository, installing cartriage from a clone of its repository with the constraints file.

A job runner is not needed: the GitHub workflow's `run:` steps (and the `actions/checkout` of
cartriage they rely on, done with git) and the GitLab job's `before_script` and `script` lines
run in bash with the variables each CI would set. The venv the steps install into sees this
suite's dependencies, so `pip install` builds and installs only cartriage itself (about 15 s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from report_support import PIP_CACHE, REPO_ROOT, source_snapshot

yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.skipif(
    os.environ.get("CARTRIAGE_TEST_PRE_COMMIT", "1") == "0",
    reason="CARTRIAGE_TEST_PRE_COMMIT=0: tests that pip-install cartriage are left out")

EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


@pytest.fixture
def ci_env(tmp_path) -> dict[str, str]:
    """A fresh venv on PATH that sees the suite's dependencies but not its cartriage."""
    folder = tmp_path / "ci-venv"
    venv.create(folder, with_pip=True)
    own = sysconfig.get_paths()["purelib"]  # this venv: its editable cartriage stays out
    shared = [p for p in sys.path if p.endswith("site-packages") and p != own]
    purelib = next(folder.glob("lib/python*/site-packages"))
    (purelib / "_suite_dependencies.pth").write_text("\n".join(shared) + "\n")
    return {**os.environ, "PATH": f"{folder / 'bin'}:{os.environ['PATH']}",
            "VIRTUAL_ENV": str(folder), "PIP_CACHE_DIR": PIP_CACHE,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(tmp_path / "home")}


@pytest.fixture
def pull_request(repo):
    """main with a base commit, branch `feature` with the change; origin is the repository."""
    base = repo.commit("Initial import", {"app/auth.py": "def login(user):\n    return True\n"})
    repo.git("checkout", "-q", "-b", "feature")
    head = repo.commit("Check the password", {
        "app/auth.py": "def login(user, password):\n    return user.check(password)\n",
        "poetry.lock": "x\n"})
    repo.git("remote", "add", "origin", str(repo.path))
    return repo, base, head


def test_github_workflow_runs_as_written(pull_request, ci_env, tmp_path):
    repo, base, head = pull_request
    workflow = yaml.safe_load((REPO_ROOT / "hooks/github/cartriage.yml").read_text())
    steps = workflow["jobs"]["review"]["steps"]
    source = source_snapshot(tmp_path)
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    context = {
        "github.event.pull_request.base.sha": base, "github.event.pull_request.head.sha": head,
        "github.event.pull_request.title": "Check the password",
        "github.event.pull_request.body": "Logins now need the password.",
        "github.event.pull_request.number": "7", "github.sha": head,
        "secrets.OPENAI_API_KEY": "",  # no model configured: the review is the plan
        **{f"env.{k}": v for k, v in workflow["env"].items()},
    }
    env = {**ci_env, **{k: str(v) for k, v in workflow["env"].items()},
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    ran = []
    for step in steps:
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout") and step.get("with", {}).get("path"):
            checkout = step["with"]  # what actions/checkout does, with git
            ref = _expand(checkout["ref"], context)
            target = repo.path / checkout["path"]
            _git("clone", "-q", str(source), str(target))
            _git("-C", str(target), "checkout", "-q", ref)
            ran.append("checkout cartriage")
            continue
        if "run" not in step:
            continue  # setup-python, cache, upload-sarif, github-script: not shell steps
        context.update(_outputs(output))
        step_env = {k: _expand(str(v), context) for k, v in step.get("env", {}).items()}
        done = subprocess.run(["bash", "-e", "-c", _expand(step["run"], context)],
                              cwd=repo.path, env={**env, **step_env}, capture_output=True,
                              text=True, timeout=600, check=False)
        ran.append(step.get("name", step["run"].split()[0]))
        assert done.returncode == 0, (step, done.stdout, done.stderr)
    assert ran == ["checkout cartriage", "Install cartriage", "Review", "Job summary", "Gate"]
    assert _outputs(output)["steps.review.outputs.exit_code"] == "0"
    sarif = json.loads((repo.path / "cartriage.sarif").read_text())
    notes = [n["message"]["text"]
             for n in sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]]
    assert "poetry.lock ignored: matches [ignore], not reviewed" in notes
    assert summary.read_text().startswith("<!-- cartriage -->")


def test_gitlab_job_runs_as_written(pull_request, ci_env, tmp_path):
    repo, _, _ = pull_request
    job = yaml.safe_load((REPO_ROOT / "hooks/gitlab/cartriage.gitlab-ci.yml").read_text())
    job = job["cartriage"]
    source = source_snapshot(tmp_path)
    variables = {**{k: str(v) for k, v in job["variables"].items()},
                 "CARTRIAGE_REPOSITORY": str(source),  # a CI/CD variable may point at a mirror
                 "CI_PROJECT_DIR": str(repo.path), "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
                 "CI_MERGE_REQUEST_TITLE": "Check the password",
                 "CI_MERGE_REQUEST_DESCRIPTION": "Logins now need the password.",
                 "CI_MERGE_REQUEST_IID": "7"}
    lines = [*job["before_script"], *job["script"]]
    script = "set -eo pipefail\n" + "\n".join(lines) + "\n"  # one shell, as the runner does
    done = subprocess.run(["bash", "-c", script], cwd=repo.path, env={**ci_env, **variables},
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout, done.stderr)
    report = json.loads((repo.path / "cartriage.json").read_text())
    assert report["kind"] == "plan" and report["change"]["ignored"] == ["poetry.lock"]
    assert [u["path"] for u in report["analysis"]["units"]] == ["app/auth.py"]
    assert (repo.path / "cartriage.md").read_text().startswith("<!-- cartriage -->")


def test_pre_commit_snippet_pins_what_exists():
    """No release tag exists: the snippet uses the branch (or a SHA), never `rev: v0.1.0`."""
    example = yaml.safe_load((REPO_ROOT / "hooks/pre-commit-config.example.yaml").read_text())
    (entry,) = example["repos"]
    assert entry["rev"] == "main" or re.fullmatch(r"[0-9a-f]{40}", entry["rev"])
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "rev: v0.1.0" not in readme and f"rev: {entry['rev']}" in readme


def _expand(text: str, context: dict[str, str]) -> str:
    """GitHub's `${{ expr }}` for plain context names (missing ones are empty, as there)."""
    return EXPRESSION.sub(lambda m: context.get(m.group(1), ""), text)


def _outputs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {f"steps.review.outputs.{k}": v for k, v in pairs}


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)
