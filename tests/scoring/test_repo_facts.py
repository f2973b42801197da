import json
import subprocess
from pathlib import Path

import numpy as np

from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.scoring import features, repo_facts
from cartriage.scoring.records import to_change

CONFIG = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": "/nonexistent"})


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def _repository(root: Path) -> dict:
    """A package whose `util.py` is imported by six of 17 modules; the commit edits util.py."""
    src = root / "acme" / "app"
    src.mkdir(parents=True)
    _git(src, "init", "-q")
    (src / "pkg").mkdir()
    (src / "pkg" / "util.py").write_text("def helper(x):\n    return x\n")
    for n in range(6):
        (src / "pkg" / f"user{n}.py").write_text(f"from pkg.util import helper\n\nV{n} = helper"
                                                 f"({n})\n")
    for n in range(10):  # leaves: util's fan-in must rank above the [core] percentile
        (src / "pkg" / f"leaf{n}.py").write_text(f"L{n} = {n}\n")
    _git(src, "add", ".")
    _git(src, "commit", "-q", "-m", "base")
    (src / "pkg" / "util.py").write_text("def helper(x, y=0):\n    return x + y\n")
    (src / "pkg" / "user0.py").write_text("from pkg.util import helper\n\nV0 = helper(0, 1)\n")
    _git(src, "commit", "-q", "-am", "Add an offset to helper")
    sha, parent = _git(src, "rev-parse", "HEAD"), _git(src, "rev-parse", "HEAD^")
    diff = _git(src, "show", "--format=", "HEAD") + "\n"
    return {"id": "acme/app@1", "repo": "acme/app", "sha": sha, "parent": parent,
            "title": "Add an offset to helper", "diff": diff}


def test_build_measures_fan_in_with_the_analysis_stage_and_apply_restores_it(tmp_path):
    record = _repository(tmp_path / "src")
    gone = dict(record, id="acme/app@2", sha="0" * 40)
    entries = repo_facts.build([record, gone], str(tmp_path / "src" / "{owner}" / "{name}"),
                               tmp_path / "scratch", log=lambda _: None)
    assert entries[1] == {"id": "acme/app@2", "missing": "commit not in the repository snapshot"}
    files = {f["path"]: f for f in entries[0]["files"]}
    assert files["pkg/util.py"]["fan_in"] == 6 and files["pkg/user0.py"]["fan_in"] == 0
    assert files["pkg/util.py"]["core"] and not files["pkg/user0.py"]["core"]
    # The fan-in cache went to the scratch clone, never into the source repository.
    assert not (tmp_path / "src" / "acme" / "app" / ".git" / "cartriage").exists()

    sidecar = tmp_path / "facts.jsonl"
    sidecar.write_text("".join(json.dumps(e) + "\n" for e in entries))
    loaded = repo_facts.load(sidecar)
    assert set(loaded) == {"acme/app@1"}
    change = to_change(record, CONFIG)
    diff_only = analyze(change, CONFIG)
    assert diff_only.facts("pkg/util.py").fan_in is None
    restored = repo_facts.apply(diff_only, loaded["acme/app@1"])
    util = restored.facts("pkg/util.py")
    assert util.fan_in == 6 and "core" in util.role_names
    assert "core" not in restored.facts("pkg/user0.py").role_names

    def numeric(analysis, name):
        scope = features.whole_change(change, analysis)
        vector = features.consequence_features(features.read_text(change), scope).vector
        return vector[features.CONSEQUENCE_NUMERIC.index(name)]

    assert numeric(diff_only, "fan_in_known") == 0 and numeric(restored, "fan_in_known") == 1
    assert numeric(restored, "max_fan_in_percentile") > 0.5
    assert np.isclose(numeric(restored, "files_with_role:core"), 0.5)
