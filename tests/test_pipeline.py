"""The pipeline's plan cache: a change between two commits is planned once per configuration;
a repeated plan is read back without tree-sitter, numpy or onnxruntime."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cartriage import config as configuration
from cartriage import pipeline
from cartriage.intake import ChangeRequest

PLAN = """
import json, sys
from pathlib import Path
from cartriage import config as configuration, pipeline
from cartriage.intake import ChangeRequest
repo = Path(sys.argv[1])
settings = configuration.load(cwd=repo, env={})
result = pipeline.plan(ChangeRequest(repo=repo, rev=sys.argv[2]), settings)
heavy = ("tree_sitter", "numpy", "onnxruntime", "git")
print(json.dumps({"loaded": sorted(m for m in heavy if m in sys.modules),
                  "result": repr(result)}))
"""


def _project(repo):
    repo.commit("base", {"app/auth.py": "def login(user, password):\n    return True\n",
                         "app/views.py": "from app.auth import login\n"})
    repo.commit("otp", {"app/auth.py": "def login(user, password, otp=None):\n"
                                       "    return otp is not None\n"})


def _plan(repo, rev="HEAD^!") -> dict:
    done = subprocess.run([sys.executable, "-c", PLAN, str(repo.path), rev], capture_output=True,
                          text=True, check=True,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return json.loads(done.stdout)


def test_a_repeated_plan_is_read_back_without_the_heavy_libraries(repo):
    _project(repo)
    first, second = _plan(repo), _plan(repo)
    assert {"tree_sitter", "numpy", "onnxruntime"} <= set(first["loaded"])
    assert second["loaded"] == []
    assert second["result"] == first["result"]


def test_another_budget_is_planned_again(repo):
    _project(repo)
    request = ChangeRequest(repo=repo.path, rev="HEAD^!")
    small = pipeline.plan(request, configuration.load(cwd=repo.path, env={},
                                                      overrides={("budget", "tokens"): 1_000}))
    large = pipeline.plan(request, configuration.load(cwd=repo.path, env={},
                                                      overrides={("budget", "tokens"): 90_000}))
    assert (small.plan.budget_tokens, large.plan.budget_tokens) == (1_000, 90_000)


def test_uncommitted_changes_are_never_served_from_the_cache(repo):
    _project(repo)
    settings = configuration.load(cwd=repo.path, env={})
    request = ChangeRequest(repo=repo.path, worktree=True)
    repo.write("app/auth.py", "def login(user):\n    return False\n")
    first = pipeline.plan(request, settings)
    repo.write("app/auth.py", "def login(user, token):\n    return False\n")
    second = pipeline.plan(request, settings)
    symbols = [[s.new_signature for s in r.analysis.files[0].symbols] for r in (first, second)]
    assert symbols == [["def login(user)"], ["def login(user, token)"]]


def test_a_rewritten_calibration_file_is_planned_again(repo):
    _project(repo)
    request = ChangeRequest(repo=repo.path, rev="HEAD^!")
    path = repo.path / "cartriage-calibration.json"
    misses = []
    for miss in (0.05, 0.9):
        path.write_text(json.dumps({
            "version": 1, "model": "openai/test-model", "units": 16,
            "strategies": {name: {"miss": miss, "injected": 16, "detected": round(16 * (1 - miss))}
                           for name in ("single", "multi", "deliberate")}}), encoding="utf-8")
        result = pipeline.plan(request, configuration.load(cwd=repo.path, env={}))
        misses.append(sorted({a.miss_probability for a in result.plan.assignments
                              if a.strategy != "skip"}))
    assert misses[0] != misses[1]
