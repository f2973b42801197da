"""The score cache: a second scoring of the same change is served from disk, without numpy or
onnxruntime; a retrained model, other weights or another change miss."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.intake import ChangeRequest, read_change
from cartriage.scoring import cache
from cartriage.scoring.model import model_dir

SCORE_TWICE = """
import json, sys
from pathlib import Path
from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.intake import ChangeRequest, read_change
from cartriage.scoring import cache
repo = Path(sys.argv[1])
settings = configuration.load(cwd=repo, env={})
change = read_change(ChangeRequest(repo=repo, rev="HEAD^!"), settings)
scores = cache.score(change, analyze(change, settings), settings)
print(json.dumps({"loaded": sorted(m for m in ("numpy", "onnxruntime") if m in sys.modules),
                  "scores": repr(scores)}))
"""


def _project(repo):
    repo.commit("base", {"app/auth.py": "def login(user, password):\n    return True\n"})
    repo.commit("otp", {"app/auth.py": "def login(user, password, otp=None):\n"
                                       "    return otp is not None\n",
                        "app/util.py": "def clamp(x):\n    return max(0, x)\n"})


def _run(repo) -> dict:
    done = subprocess.run([sys.executable, "-c", SCORE_TWICE, str(repo.path)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return json.loads(done.stdout)


def test_second_scoring_is_served_without_numpy_or_onnxruntime(repo):
    _project(repo)
    first, second = _run(repo), _run(repo)
    assert "onnxruntime" in first["loaded"]
    assert second["loaded"] == []
    assert second["scores"] == first["scores"]


def _inputs(repo, overrides=None):
    settings = configuration.load(cwd=repo.path, env={}, overrides=overrides)
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD^!"), settings)
    return change, analyze(change, settings), settings


def test_the_key_follows_the_change_the_weights_and_the_models(repo, tmp_path, monkeypatch):
    _project(repo)
    change, facts, settings = _inputs(repo)
    key = cache.key_of(change, facts, settings)
    assert cache.key_of(*_inputs(repo)) == key
    assert cache.key_of(*_inputs(repo, {("weights", "high"): 99.0})) != key
    assert cache.key_of(*_inputs(repo, {("budget", "tokens"): 7_000})) == key  # not scored
    repo.commit("more", {"app/util.py": "def clamp(x):\n    return min(max(0, x), 9)\n"})
    assert cache.key_of(*_inputs(repo)) != key

    retrained = tmp_path / "models"
    shutil.copytree(model_dir(), retrained)
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(retrained))
    assert cache.model_folder() == model_dir() == retrained
    before = cache.models_fingerprint()
    card = retrained / "difficulty.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "trained_at": "later"}))
    assert cache.models_fingerprint() != before


def test_a_change_without_repository_is_scored_every_time(tmp_path):
    from cartriage.intake import parse_diff
    from cartriage.intake.change import ChangeSet

    diff = (b"diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n")
    change = ChangeSet(source="patch", files=parse_diff(diff, "patch"))
    settings = configuration.load(cwd=tmp_path, env={})
    scores = cache.score(change, analyze(change, settings), settings)
    assert [u.unit_id for u in scores.units] == ["x.py"]
    assert not list(Path(tmp_path).rglob(cache.FILE))


def test_score_batches_serve_cached_changes_and_compute_the_rest_together(repo, monkeypatch):
    from cartriage.scoring import predict

    _project(repo)
    repo.commit("more", {"app/util.py": "def clamp(x):\n    return min(max(0, x), 9)\n"})
    settings = configuration.load(cwd=repo.path, env={})
    pairs = []
    for rev in ("HEAD~1^!", "HEAD^!", "HEAD~1^!"):
        change = read_change(ChangeRequest(repo=repo.path, rev=rev), settings)
        pairs.append((change, analyze(change, settings)))
    first = cache.score(*pairs[0], settings)  # cached on its own
    computed, compute = [], predict.score_many
    monkeypatch.setattr(predict, "score_many",
                        lambda items, config: computed.append(len(items)) or compute(items, config))
    monkeypatch.setattr(cache, "BATCH", 2)
    fingerprints, fingerprint = [], cache.models_fingerprint
    monkeypatch.setattr(cache, "models_fingerprint",
                        lambda: fingerprints.append(1) or fingerprint())
    got = list(cache.score_batches(iter(pairs), settings))
    assert fingerprints == [1]  # the model files are hashed once per batch, not per change
    assert cache.key_of(*pairs[1], settings) == cache.key_of(*pairs[1], settings,
                                                             cache.key_prefix(settings))
    assert [g[0] for g in got] == [c for c, _ in pairs]
    assert got[0][2] == got[2][2] == first
    assert computed == [1]  # one batch computed HEAD^! only; the third change was cached
    assert got[1][2] == cache.score(*pairs[1], settings)
    assert computed == [1]  # and is now cached too


def test_the_models_fingerprint_reads_the_encoder_folder(tmp_path, monkeypatch):
    """A re-derived encoder (its card, or a large file's size) is another set of models; the
    folder's `__pycache__` (derive.py imported, as the tests do) is not a model file."""
    (tmp_path / "consequence.json").write_text("{}")
    encoder = tmp_path / "encoder"
    (encoder / "__pycache__").mkdir(parents=True)
    (encoder / "encoder.json").write_text('{"sha256": "a"}')
    (encoder / "weights.bin").write_bytes(b"\0" * ((1 << 20) + 1))
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(tmp_path))
    first = cache.models_fingerprint()
    (encoder / "encoder.json").write_text('{"sha256": "b"}')
    second = cache.models_fingerprint()
    (encoder / "weights.bin").write_bytes(b"\0" * ((1 << 20) + 2))
    assert len({first, second, cache.models_fingerprint()}) == 3
