"""`cartriage explain`: the renderer on a built Result, and the command end to end."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from report_support import make_result

from cartriage.errors import UsageError
from cartriage.report import explain

ROOT = Path(__file__).resolve().parents[2]


def test_text_shows_facts_with_evidence():
    out = explain.render(make_result(review=False), "text", color=False)
    assert "app/auth/session.py  python  modified, +5 −0" in out
    assert "security     ← path matches security/**" in out
    assert "fan-in   42 files import or reference it; 98th percentile of 300 indexed files" in out
    assert "~ Session.create  method  public  signature changed: (self, user) → (self, user, ttl)" \
        in out
    assert "+ _helper  function" in out and "_helper  function  public" not in out
    assert "consequence high  (low 0.10, medium 0.10, high 0.80)" in out
    assert "because role:migration (+0.42), fan_in_pct (+0.11)" in out
    assert "difficulty  medium  (P(defect) 0.30)" in out
    assert "Change consequence: high  (low" in out


def test_json_gives_the_same_facts():
    doc = json.loads(explain.render(make_result(review=False), "json"))
    assert doc["schema_version"] == 1 and doc["kind"] == "explain"
    facts = doc["files"][1]
    assert facts["path"] == "app/auth/session.py" and facts["fan_in_percentile"] == 97.5
    assert [r["role"] for r in facts["roles"]] == ["security", "core"]
    assert facts["symbols"][0]["public"] is True and facts["symbols"][0]["signature_changed"]
    unit = doc["units"][0]
    assert unit["consequence"]["top_features"][0]["feature"] == "role:migration"
    assert unit["difficulty"]["tier"] == "medium"


def test_unknown_fact_values_are_said_plainly():
    from dataclasses import replace

    result = make_result(review=False)
    facts = replace(result.analysis.files[0], fan_in=None, fan_in_percentile=None, symbols=(),
                    parsed=False, notes=("diff only: no repository",))
    result.analysis = replace(result.analysis, files=(facts,))
    out = explain.render(result, "text", color=False)
    assert "fan-in   unknown (no repository index)" in out
    assert "symbols  none (not parsed)" in out and "note     diff only: no repository" in out


def test_bad_format():
    with pytest.raises(UsageError):
        explain.render(make_result(review=False), "sarif")


def _pipeline_ready() -> bool:
    return all(hasattr(importlib.import_module(f"cartriage.{stage}"), name) for stage, name in
               (("analysis", "analyze"), ("scoring", "score"), ("allocation", "allocate")))


end_to_end = pytest.mark.skipif(not _pipeline_ready(), reason="pipeline stages not all present")


def _cartriage(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cartriage", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@end_to_end
def test_explain_a_patch_end_to_end(tmp_path):
    patch = ROOT / "examples" / "diffs" / "webapp-contacts.patch"
    done = _cartriage("explain", "--diff", str(patch), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    files = {f["path"]: f for f in doc["files"]}
    migration = files["shop/migrations/0008_contact_drop_phone.py"]
    assert "migration" in [r["role"] for r in migration["roles"]]
    assert migration["fan_in"] is None  # a patch alone has no repository to index
    assert {u["consequence"]["tier"] for u in doc["units"]} <= {"low", "medium", "high"}
    text = _cartriage("explain", "--diff", str(patch), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "shop/migrations/0008_contact_drop_phone.py" in text.stdout
    assert "Change consequence:" in text.stdout


@end_to_end
def test_explain_in_a_repository(repo):
    repo.commit("root", {"lib/core.py": "def helper(x):\n    return x\n",
                         "app/a.py": "from lib.core import helper\n",
                         "app/b.py": "from lib.core import helper\n"})
    repo.commit("change helper", {"lib/core.py": "def helper(x, y=0):\n    return x + y\n"})
    done = _cartriage("explain", "HEAD~1", "--format", "json", cwd=repo.path)
    assert done.returncode == 0, done.stderr
    facts = {f["path"]: f for f in json.loads(done.stdout)["files"]}["lib/core.py"]
    assert facts["language"] == "python"
    assert any(s["name"].endswith("helper") and s["signature_changed"] for s in facts["symbols"])
    assert facts["fan_in"] == 2


def test_explain_rejects_other_formats(tmp_path):
    done = _cartriage("explain", "--diff", "-", "--format", "sarif", cwd=tmp_path)
    assert done.returncode == 2 and "explain: use text or json" in done.stderr
