"""Which PR, repository and ledger URL: --pr, GitHub Actions, GitLab CI, variables in the URL."""

from __future__ import annotations

import json

import pytest

from cartriage.errors import ConfigError
from cartriage.ledger import identity, masked


def test_github_pull_request_from_the_ref_or_the_event(tmp_path):
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop",
           "GITHUB_REF": "refs/pull/17/merge"}
    assert (identity.ci_repository(env), identity.ci_pr(env)) == ("acme/shop", "17")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 23}}))
    target = {**env, "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_PATH": str(event)}
    assert identity.ci_pr(target) == "23"  # pull_request_target runs on the base branch
    assert identity.ci_pr({**env, "GITHUB_REF": "refs/heads/main"}) is None  # a push


def test_gitlab_merge_request():
    env = {"CI_PROJECT_PATH": "group/app", "CI_MERGE_REQUEST_IID": "5"}
    assert (identity.ci_repository(env), identity.ci_pr(env)) == ("group/app", "5")


def test_repository_name_precedence():
    assert identity.repository_name("mine", "/x/app", {"GITHUB_REPOSITORY": "a/b"}) == "mine"
    assert identity.repository_name(None, "/x/app", {"GITHUB_REPOSITORY": "a/b"}) == "a/b"
    assert identity.repository_name(None, "/x/app", {}) == "app"


def test_the_url_reads_variables_and_masks_passwords():
    url = identity.ledger_url("postgresql://ci:${LEDGER_PASSWORD}@db/ledger", None,
                              {"LEDGER_PASSWORD": "s3cret"})
    assert url == "postgresql://ci:s3cret@db/ledger"
    assert masked(url) == "postgresql://ci:***@db/ledger"
    assert identity.ledger_url("$LEDGER_URL", None, {"LEDGER_URL": "/tmp/l.db"}) == "/tmp/l.db"
    with pytest.raises(ConfigError, match=r"\[ledger\] url names \$MISSING"):
        identity.ledger_url("postgresql://ci:${MISSING}@db/x", None, {})


def test_the_default_ledger_lives_in_the_git_directory(repo):
    repo.commit("init", {"a.py": "x = 1\n"})
    assert identity.ledger_url(None, str(repo.path), {}) == str(
        (repo.path / ".git" / "cartriage" / "ledger.db").resolve())
