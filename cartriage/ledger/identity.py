"""Which ledger, which repository, which pull request: from the configuration and CI.

A PR is `--pr KEY`, else GitHub Actions (`GITHUB_REPOSITORY`, and the number from
`GITHUB_REF=refs/pull/N/merge` or the event file's `pull_request.number`), else GitLab CI
(`CI_PROJECT_PATH`, `CI_MERGE_REQUEST_IID`). The ledger URL may name environment variables
(`${NAME}`), so passwords stay out of configuration files; the URL is never printed unmasked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from cartriage.errors import ConfigError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_GITHUB_PR_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")


def ci_repository(env: Mapping[str, str]) -> str | None:
    return env.get("GITHUB_REPOSITORY") or env.get("CI_PROJECT_PATH") or None


def ci_pr(env: Mapping[str, str]) -> str | None:
    """The pull or merge request number CI is running for, or None."""
    if env.get("GITHUB_ACTIONS"):
        match = _GITHUB_PR_REF.match(env.get("GITHUB_REF", ""))
        if match:
            return match.group(1)
        event = env.get("GITHUB_EVENT_PATH")
        if event:
            try:
                number = json.loads(Path(event).read_text("utf-8"))["pull_request"]["number"]
            except (OSError, ValueError, KeyError, TypeError):
                return None
            return str(number)
        return None
    return env.get("CI_MERGE_REQUEST_IID") or None


def repository_name(configured: str | None, repo_root: str | None,
                    env: Mapping[str, str]) -> str:
    """`[ledger] repository`, else CI's `owner/name`, else the repository folder's name."""
    return configured or ci_repository(env) or (Path(repo_root).name if repo_root else "")


def ledger_url(configured: str | None, repo_root: str | None, env: Mapping[str, str]) -> str:
    """The URL with ${VARIABLES} filled in, or the default SQLite file in the git directory."""
    if configured:
        def fill(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            if name not in env:
                raise ConfigError(f"[ledger] url names ${name}, which is not set")
            return env[name]

        return _VARIABLE.sub(fill, configured)
    if repo_root is None:
        raise ConfigError("[ledger] url is not set and there is no repository to keep the "
                          "ledger in: set [ledger] url")
    return str(_git_dir(repo_root) / "cartriage" / "ledger.db")


def _git_dir(repo_root: str) -> Path:
    """The common git directory (shared by worktrees), so every checkout sees one ledger."""
    try:
        found = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=repo_root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return Path(repo_root) / ".git"
    return Path(repo_root, found).resolve() if not os.path.isabs(found) else Path(found)
