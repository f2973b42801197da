"""Results built directly from the stage contracts, so the renderers are tested on their own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cartriage.allocation.plan import Assignment, Plan
from cartriage.analysis.facts import Analysis, FileFacts, RoleHit, Symbol, Unit
from cartriage.intake.change import ChangeSet, FileChange, Hunk
from cartriage.pipeline import Result
from cartriage.review.findings import Finding, Review, UnitReview
from cartriage.scoring.scores import Consequence, Difficulty, Scores, UnitScore

REPO_ROOT = Path(__file__).resolve().parents[2]
# Read at import, before the suite's fixtures replace XDG_CACHE_HOME with a temporary folder.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip")
# The official OASIS schema, from the shared data next to the checkout (or where it lives on the
# build machines, for a clone made elsewhere).
SARIF_SCHEMA = next((p for p in (REPO_ROOT.parent / "shared" / "data" / "sarif-schema-2.1.0.json",
                                 Path("/work/shared/data/sarif-schema-2.1.0.json")) if p.is_file()),
                    REPO_ROOT.parent / "shared" / "data" / "sarif-schema-2.1.0.json")


def consequence(tier, p=0.8, features=(("role:migration", 0.42), ("fan_in_pct", 0.11)),
                override=None):
    rest = (1 - p) / 2
    probabilities = {t: (p if t == tier else rest) for t in ("low", "medium", "high")}
    weight = {"low": 1.0, "medium": 5.0, "high": 25.0}[tier]
    return Consequence(tier, probabilities, weight, tuple(features), override)


def difficulty(tier, p=0.6):
    rest = (1 - p) / 2
    probabilities = {t: (p if t == tier else rest) for t in ("low", "medium", "high")}
    return Difficulty(tier, probabilities, {"low": 0.1, "medium": 0.3, "high": 0.5}[tier],
                      (("lines_added", 0.3),))


def hunk(start, added):
    return Hunk(start, 1, start, 1 + added, "def f():",
                (" x",) + tuple(f"+line {i}" for i in range(added)))


FILES = [
    # path, roles, consequence, difficulty, strategy, samples, tokens, usd, status
    ("migrations/0042_drop_email.py", ("migration",), "high", "medium", "deliberate", 3, 9000,
     0.009, "reviewed"),
    ("app/auth/session.py", ("security", "core"), "high", "high", "multi", 3, 6000, 0.006,
     "not reviewed: budget"),
    ("app/views/profile.py", ("ui",), "medium", "low", "single", 1, 1500, 0.0015, "reviewed"),
    ("docs/changelog.md", ("docs",), "low", "low", "skip", 0, 0, 0.0, "skipped"),
]


def make_result(*, review=True, complete=None, findings=None, budget_tokens=20000,
                budget_usd=None, files=FILES, issue="", messages=()):
    changes, facts, units, unit_scores, assignments, unit_reviews = [], [], [], [], [], []
    for path, roles, tier, diff_tier, strategy, samples, est, est_usd, status in files:
        changes.append(FileChange(path=path, old_path=path, status="modified", language="python",
                                  hunks=(hunk(10, 3), hunk(40, 2)), added=5, removed=0))
        facts.append(FileFacts(
            path=path, language="python",
            roles=tuple(RoleHit(r, f"path matches {r}/**") for r in roles),
            symbols=(Symbol("Session.create", "method", "modified", True, True,
                            "(self, user)", "(self, user, ttl)"),
                     Symbol("_helper", "function", "added", False)),
            fan_in=42, fan_in_percentile=97.5, parsed=True))
        units.append(Unit(path, path, (0, 1), 5, 0))
        unit_scores.append(UnitScore(path, consequence(tier), difficulty(diff_tier)))
        assignments.append(Assignment(path, strategy, samples, est, est_usd,
                                      expected_loss=0.1, loss_if_skipped=0.5,
                                      reason=f"{strategy}: marginal value 0.002/token"))
        unit_reviews.append(UnitReview(path, status, reason="budget exhausted"
                                       if status.startswith("not") else ""))
    change = ChangeSet(source="HEAD~1..HEAD", files=tuple(changes), repo_root="/tmp/repo",
                       old_rev="a" * 40, new_rev="b" * 40, title="Drop the email column",
                       description="Moves email to profiles.", issue=issue)
    scores = Scores(tuple(unit_scores), consequence("high" if files else "medium"),
                    "consequence-v1")
    plan = Plan("priority-aware", tuple(assignments), budget_tokens, budget_usd,
                sum(a.est_tokens for a in assignments), sum(a.est_usd for a in assignments),
                expected_loss=0.42, notes=("budget allows deliberation for 1 unit",))
    result = Result(change=change, analysis=Analysis(tuple(facts), tuple(units), indexed_files=300),
                    scores=scores, plan=plan, messages=list(messages))
    if review:
        if findings is None:
            findings = default_findings()
        by_unit = {}
        for f in findings:
            by_unit.setdefault(f.unit_id, []).append(f)
        unit_reviews = [UnitReview(u.unit_id, u.status, u.reason, tuple(by_unit.get(u.unit_id, ())),
                                   calls=1, prompt_tokens=1000, completion_tokens=200, usd=0.001)
                        for u in unit_reviews]
        statuses = {u.status for u in unit_reviews}
        if complete is None:
            complete = not statuses & {"failed", "not reviewed: budget"}
        result.review = Review(tuple(unit_reviews), tuple(findings), prompt_tokens=8000,
                               completion_tokens=1500, usd=0.0123, redactions=2,
                               dropped_findings=1, reanchored_findings=0, complete=complete)
    return result


def default_findings():
    return [
        Finding("migrations/0042_drop_email.py", 12, 14, "critical", "data-loss",
                "Column dropped before data is copied",
                "The migration removes `email` but the copy runs afterwards.",
                "Copy the data in a RunPython step before RemoveField.", 0.9,
                "migrations/0042_drop_email.py", "deliberate", support=3, samples=3),
        Finding("app/views/profile.py", 41, 41, "minor", "style", "Unused import | pipe",
                "`os` is imported but unused.", "", 0.6, "app/views/profile.py", "single"),
        Finding("migrations/0042_drop_email.py", 20, 20, "info", "performance",
                "Index rebuilt on a large table", "Locks the table.", "Use CONCURRENTLY.", 0.4,
                "migrations/0042_drop_email.py", "deliberate", support=1, samples=3),
    ]


def source_snapshot(tmp_path: Path) -> Path:
    """A committed copy of this checkout on branch main: what `git clone` of cartriage gives
    (pre-commit try-repo and the CI templates install from it)."""
    target = tmp_path / "cartriage-src"
    target.mkdir()
    for name in ("pyproject.toml", "constraints.txt", ".pre-commit-hooks.yaml", "README.md",
                 "LICENSE"):
        if (REPO_ROOT / name).exists():
            shutil.copy(REPO_ROOT / name, target / name)
    if not (target / "README.md").exists():
        (target / "README.md").write_text("cartriage\n")
    for folder in ("cartriage", "models"):
        if (REPO_ROOT / folder).is_dir():
            shutil.copytree(REPO_ROOT / folder, target / folder,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=T"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=target, check=True)
    return target
