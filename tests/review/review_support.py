"""Build pipeline Results from small patch texts, and configs pointing at the local server."""

from __future__ import annotations

from pathlib import Path

from cartriage.allocation.plan import Assignment, Plan
from cartriage.analysis.facts import Analysis, FileFacts, RoleHit, Symbol, Unit
from cartriage.config import load
from cartriage.intake.change import ChangeSet
from cartriage.intake.diff import parse_diff
from cartriage.pipeline import Result
from cartriage.scoring.scores import Consequence, Difficulty, Scores, UnitScore

MODEL = "openai/test-model"

AUTH_PATCH = """\
diff --git a/app/auth.py b/app/auth.py
--- a/app/auth.py
+++ b/app/auth.py
@@ -10,6 +10,8 @@ def login(user, password):
     record = find(user)
     if record is None:
         return None
-    if check(record, password):
+    if check(record, password) or password == "":
+        audit("login", user)
         return record
     return None
+
"""


def patch_for(path: str, added: list[str], start: int = 1) -> str:
    """A patch adding `added` lines at `start` to `path` (one hunk, no context)."""
    body = "".join(f"+{line}\n" for line in added)
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -{start - 1},0 +{start},{len(added)} @@\n{body}")


def result_for(patch: str, strategy: str = "single", samples: int = 1, *, title: str = "",
               description: str = "", est_tokens: int = 2000,
               strategies: dict[str, tuple[str, int]] | None = None,
               budget_tokens: int | None = 100_000, budget_usd: float | None = None) -> Result:
    """A Result with one unit per file; every unit gets `strategy` unless `strategies` says."""
    files = parse_diff(patch.encode())
    change = ChangeSet(source="diff", files=files, title=title, description=description)
    units = tuple(Unit(id=f.path, path=f.path, hunks=tuple(range(len(f.hunks))),
                       added=f.added, removed=f.removed) for f in files)
    facts = tuple(FileFacts(path=f.path, language="python",
                            roles=(RoleHit("security", "path contains auth"),),
                            symbols=(Symbol("login", "function", "modified", True),))
                  for f in files)
    consequence = Consequence("high", {"low": 0.1, "medium": 0.2, "high": 0.7}, 18.0)
    difficulty = Difficulty("medium", {"low": 0.3, "medium": 0.5, "high": 0.2}, 0.3)
    scores = Scores(units=tuple(UnitScore(u.id, consequence, difficulty) for u in units),
                    change=consequence, model_version="test")
    assignments = []
    for index, unit in enumerate(units):
        name, k = (strategies or {}).get(unit.id, (strategy, samples))
        assignments.append(Assignment(unit.id, name, k, est_tokens, None, 1.0,
                                      loss_if_skipped=100.0 - index, reason="test plan"))
    plan = Plan(policy="priority-aware", assignments=tuple(assignments),
                budget_tokens=budget_tokens, budget_usd=budget_usd,
                total_tokens=sum(a.est_tokens for a in assignments), total_usd=None,
                expected_loss=1.0)
    return Result(change=change, analysis=Analysis(files=facts, units=units), scores=scores,
                  plan=plan)


def config_for(server_url: str, tmp: Path, **llm) -> object:
    """A Config pointing at the local server, with short timeouts and backoff."""
    overrides = {("llm", "model"): MODEL, ("llm", "api_base"): server_url,
                 ("llm", "timeout"): 2.0, ("llm", "retries"): 2, ("llm", "backoff"): 0.01}
    overrides.update({("llm", key): value for key, value in llm.items()})
    return load(cwd=tmp, env={"HOME": str(tmp)}, overrides=overrides)


def repo_result(repo, files: dict[str, str], changed: dict[str, str], server_url: str, tmp: Path,
                level: str):
    """Commit `files`, then `changed`; plan that commit with every strategy at context `level`
    (a Result as `cartriage review` builds it) and a Config pointing at the local server."""
    from cartriage import intake, pipeline

    repo.commit("base", files)
    repo.commit("change", changed)
    overrides = {("llm", "model"): MODEL, ("llm", "api_base"): server_url,
                 ("llm", "timeout"): 2.0, ("llm", "retries"): 0, ("llm", "cache"): False}
    overrides.update({("strategies", name, "context"): level
                      for name in ("single", "multi", "deliberate")})
    settings = load(cwd=repo.path, env={"HOME": str(tmp)}, overrides=overrides)
    return pipeline.plan(intake.ChangeRequest(repo=repo.path, rev="HEAD^!"), settings), settings
