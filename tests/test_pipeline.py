"""The pipeline's plan cache: a change between two commits is planned once per configuration;
a repeated plan is read back without tree-sitter, numpy or onnxruntime."""

from __future__ import annotations

import json
import os
import shutil
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


def test_a_batch_triages_each_commit_as_a_plan_of_that_commit_alone(repo):
    from cartriage.analysis import fanin

    _project(repo)
    repo.commit("views", {"app/views.py": "from app.auth import login\n\n\ndef home(user):\n"
                                          "    return login(user, 'x')\n",
                          "app/admin.py": "from app import auth\n"})
    repo.git("rm", "-q", "app/admin.py")
    repo.commit("drop admin", {"app/api/__init__.py": "from app.auth import login\n",
                               "app/api/v1.py": "from app.api import login\n"})
    repo.git("mv", "app/auth.py", "app/login.py")
    repo.commit("rename")
    settings = configuration.load(cwd=repo.path, env={})
    root = repo.git("rev-list", "--max-parents=0", "HEAD")
    batch = list(pipeline.triage_batch(repo.path, f"{root}..HEAD", settings))
    assert len(batch) == 4
    for change, facts, scores in batch:
        fanin._STATES.clear()  # each commit alone, indexed from scratch
        (repo.path / ".git" / "cartriage" / fanin.STATE_FILE).unlink()
        alone = pipeline.triage(ChangeRequest(repo=repo.path, rev=f"{change.new_rev}^!"),
                                settings)
        assert alone[0] == change and alone[2] == scores
        assert _without_cache_counts(alone[1]) == _without_cache_counts(facts)


def _without_cache_counts(facts):
    """The analysis without its fan-in note, whose count of files parsed depends on the cache."""
    from dataclasses import replace

    notes = [n for n in facts.notes if not n.startswith("fan-in from ")]
    assert len(notes) == len(facts.notes) - 1
    return replace(facts, notes=tuple(notes))


def test_a_plan_from_the_parents_kept_sources_equals_one_from_scratch(repo, monkeypatch):
    """Context is priced from the sources kept for the last commit planned, updated from the
    tree diff (and, past a few searches, from each file's words): the plans of a series of
    commits equal those planned with nothing kept."""
    from cartriage.context import sources

    monkeypatch.setattr(sources, "WORD_INDEX_AFTER", 0)
    _project(repo)
    repo.commit("views", {"app/views.py": "from app.auth import login\n\n\ndef home(user):\n"
                                          "    return login(user, 'x', otp=1)\n",
                          "app/util.js": "export function login(a) { return a; }\n"})
    repo.git("rm", "-q", "app/util.js")
    repo.commit("api", {"app/api.py": "from app.views import home\n\n\ndef index(user):\n"
                                      "    return home(user) or login(user, 'y')\n",
                        "app/auth.py": "def login(user, password, otp=None, *, token=None):\n"
                                       "    return otp is not None or token\n"})
    settings = configuration.load(cwd=repo.path, env={})
    folder = repo.path / ".git" / "cartriage"
    commits = repo.git("rev-list", "--reverse", "HEAD").split()[1:]
    kept = [_plan_and_contexts(repo, sha, settings) for sha in commits]
    for sha, result in zip(commits, kept, strict=True):
        shutil.rmtree(folder)
        assert _plan_and_contexts(repo, sha, settings) == result
    assert "# app/auth.py lines 1-2: function login" in "\n".join(kept[1][1])
    assert "# call sites of login" in "\n".join(kept[2][1])


def _plan_and_contexts(repo, sha, settings):
    """The plan of commit `sha` alone, and every unit's context at the largest level."""
    from cartriage import context

    result = pipeline.plan(ChangeRequest(repo=repo.path, rev=f"{sha}^!"), settings)
    return result.plan, [context.build(result.change, result.analysis, unit, "callers").text
                         for unit in result.analysis.units]


def test_a_batch_reparsing_changed_files_equals_plans_of_each_commit_alone(repo, monkeypatch):
    """A new version reparsed from its old tree (the hunks as edits; at the second change, the
    tree the batch kept from the first) gives the facts a whole parse gives: a file changed in
    several places, twice, against plans parsing it whole."""
    from cartriage.analysis import fanin, trees

    body = "".join(f"def f{n}(a):\n    return a + {n}\n\n\n" for n in range(30))
    repo.commit("base", {"app/calc.py": body, "app/use.py": "from app.calc import f1\n"})
    repo.commit("two hunks", {"app/calc.py": body.replace("def f3(a)", "def f3(a, b)")
                              .replace("return a + 20", "return a - 20\n\n\ndef g(): pass")})
    repo.commit("again", {"app/calc.py": body.replace("def f3(a)", "def f3(a, b)")
                          .replace("def f9(a):\n    return a + 9\n\n\n", "")})
    reparsed, whole = [], []  # whole: parse every version whole (the plans alone)
    parse, reparse = trees.parse, trees.reparse
    monkeypatch.setattr(trees, "parse", lambda language, source, previous=None, hunks=(): (
        reparsed.append(previous is not None and not whole
                        and trees.edits(previous[0], source, hunks) is not None)
        or parse(language, source, None if whole else previous, hunks)))
    monkeypatch.setattr(trees, "reparse", lambda language, source, previous, hunks: (
        reparsed.append(not whole and trees.edits(previous[0], source, hunks) is not None)
        or (None if whole else reparse(language, source, previous, hunks))))
    settings = configuration.load(cwd=repo.path, env={})
    root = repo.git("rev-list", "--max-parents=0", "HEAD").strip()
    batch = list(pipeline.triage_batch(repo.path, f"{root}..HEAD", settings))
    assert reparsed == [False, True, True]  # the first change (its old version parsed whole),
    # then the second, from the first's new version's tree, kept for it
    assert [s.name for s in batch[0][1].files[0].symbols] == ["f3", "f20", "g"]
    whole.append(True)
    for change, facts, scores in batch:
        fanin._STATES.clear()
        shutil.rmtree(repo.path / ".git" / "cartriage")  # no outline stored by the batch
        alone = pipeline.triage(ChangeRequest(repo=repo.path, rev=f"{change.new_rev}^!"),
                                settings)
        assert alone[0] == change and alone[2] == scores
        assert _without_cache_counts(alone[1]) == _without_cache_counts(facts)


def test_a_batch_never_reparses_a_tree_of_another_language(repo):
    """A JavaScript file renamed unchanged to TypeScript, then edited, in one batch: the blob is
    the same, its tree is not (each grammar parses it), so the edit is read from a TypeScript
    parse, as a plan of that commit alone reads it."""
    from cartriage.analysis import fanin

    body = "".join(f"export function f{n}(a) {{\n  return a + {n};\n}}\n\n" for n in range(20))
    repo.commit("base", {"src/a.js": body})
    edited = body.replace("return a + 3;", "return a - 3;")
    repo.commit("edit a.js", {"src/a.js": edited})
    repo.git("mv", "src/a.js", "src/a.ts")
    repo.commit("rename to TypeScript")
    repo.commit("edit a.ts", {"src/a.ts": edited.replace("return a + 9;", "return a * 9;")
                              + "export class Added {\n  m() { return 1; }\n}\n"})
    settings = configuration.load(cwd=repo.path, env={})
    root = repo.git("rev-list", "--max-parents=0", "HEAD").strip()
    *_, (change, facts, _) = pipeline.triage_batch(repo.path, f"{root}..HEAD", settings)
    fanin._STATES.clear()
    shutil.rmtree(repo.path / ".git" / "cartriage")  # no outline stored by the batch
    alone = pipeline.triage(ChangeRequest(repo=repo.path, rev=f"{change.new_rev}^!"), settings)
    symbols = [(f.path, [s.name for s in f.symbols]) for f in facts.files]
    assert symbols == [(f.path, [s.name for s in f.symbols]) for f in alone[1].files]
    assert symbols == [("src/a.ts", ["f9", "Added", "Added.m"])]


def test_the_plan_store_keeps_the_result_less_its_change(repo):
    """The change is read again for the key; the stored plan, with it, is the plan made."""
    import pickle
    import sqlite3

    _project(repo)
    settings = configuration.load(cwd=repo.path, env={})
    request = ChangeRequest(repo=repo.path, rev="HEAD^!")
    made = pipeline.plan(request, settings)
    with sqlite3.connect(repo.path / ".git" / "cartriage" / pipeline.PLANS) as db:
        (data,), = db.execute("SELECT data FROM entries").fetchall()
    stored = pickle.loads(data)
    assert "change" not in stored and stored["plan"] == made.plan
    assert repr(pipeline.plan(request, settings)) == repr(made)


def _change(*hunks_lines):
    from cartriage.intake.change import ChangeSet, FileChange, Hunk

    hunks = tuple(Hunk(1, 1, 1, 1, "", lines) for lines in hunks_lines)
    return ChangeSet(source="HEAD^!", files=(FileChange("a.py", None, "modified",
                                                        hunks=hunks),),
                     old_rev="1" * 40, new_rev="2" * 40)


def test_the_plan_key_tells_apart_changes_whose_lines_join_alike(repo):
    settings = configuration.load(cwd=repo.path, env={})
    changes = [_change(("+a", "+b")), _change(("+a", "+b"), ()), _change(("+a\n+b",)),
               _change(("+a\n", "+b")), _change(("+a", "\n+b")), _change(("+a",), ("+b",)),
               _change(("+a", "+b", "")), _change(("+a +b",)), _change(("('+a\\n+b',)",))]
    keys = [pipeline.plan_key(change, settings) for change in changes]
    assert len(set(keys)) == len(keys)
    assert pipeline.plan_key(_change(("+a", "+b")), settings) == keys[0]


def test_a_one_shot_plan_frees_the_scoring_models_once_scored(repo):
    from cartriage.scoring import encoder, model

    _project(repo)
    settings = configuration.load(cwd=repo.path, env={})
    request = ChangeRequest(repo=repo.path, rev="HEAD^!")
    kept = pipeline.plan(request, settings)
    assert model._LOADED
    shutil.rmtree(repo.path / ".git" / "cartriage")  # scored again, not read back
    freed = pipeline.plan(request, settings, once=True)
    assert not model._LOADED and not encoder._LOADED
    assert freed.scores == kept.scores


def test_a_plan_holds_no_blob_the_index_read_once_it_is_made(repo, monkeypatch):
    """The index hands the blobs it read to context; past context's size limit (it searches
    with git grep instead) context takes none, and none may stay held after the plan."""
    from cartriage.analysis import fanin
    from cartriage.context import sources

    _project(repo)
    monkeypatch.setattr(sources, "MAX_BYTES", 1)
    settings = configuration.load(cwd=repo.path, env={})
    made = pipeline.plan(ChangeRequest(repo=repo.path, rev="HEAD^!"), settings)
    assert made.analysis.units and not fanin._LAST_READ
