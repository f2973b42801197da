"""The bench on small labelled record files: levels, rows, reductions and outcomes."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from cartriage import config as configuration
from cartriage.allocation import bench, strategy_table
from cartriage.errors import InputError
from cartriage.scoring.scores import DEFECT_RATES

TIERS = ("low", "medium", "high")


def record(i: int, consequence: str, difficulty: str, lines: int, **extra) -> dict:
    diff = (f"diff --git a/src/f{i}.py b/src/f{i}.py\n--- /dev/null\n+++ b/src/f{i}.py\n"
            f"@@ -0,0 +1,{lines} @@\n" + "+x\n" * lines)
    return {"id": f"o/r@{i:09d}", "repo": "o/r", "title": f"change {i}",
            "files": [{"path": f"src/f{i}.py", "added": lines, "removed": 0}], "churn": lines,
            "diff": diff, "labels": {"consequence": consequence, "difficulty": difficulty,
                                     "reason": "test"}, **extra}


def records(n: int = 30) -> list[dict]:
    rng = np.random.default_rng(5)
    return [record(i, TIERS[i % 3], TIERS[(i // 3) % 3], int(rng.integers(1, 300)))
            for i in range(n)]


def test_levels_span_a_tenth_single_to_deliberate_everything():
    settings = configuration.load(env={})
    table = strategy_table(settings, usd=False)
    recs = records()
    tokens = table.tokens(np.array([bench.prompt_tokens(r) for r in recs], float))
    levels = bench.budget_levels(tokens)
    assert len(levels) >= 8 and levels == sorted(levels)
    assert levels[0] == pytest.approx(tokens[:, 1].sum() / 10, abs=1)
    assert levels[-1] == pytest.approx(tokens[:, 3].sum(), abs=1)


def test_rows_cover_every_policy_budget_and_inputs():
    settings = configuration.load(env={})
    recs = records()
    oracle = bench.oracle_inputs(recs, settings)
    noisy = {k: v.copy() for k, v in oracle.items()}
    noisy["weight"] = np.ones(len(recs))  # a predictor blind to consequence
    result = bench.run(recs, settings, {"predicted": noisy, "oracle": oracle})
    assert len(result["rows"]) == 5 * len(result["levels"]) * 2
    row = result["rows"][0]
    assert {"policy", "budget", "inputs", "loss"} <= row.keys()
    assert all(r["tokens"] <= r["budget"] for r in result["rows"])
    # with oracle inputs, the solver is never worse than uniform at the same budget
    for budget in result["levels"]:
        loss = {r["policy"]: r["loss"] for r in result["rows"]
                if r["budget"] == budget and r["inputs"] == "oracle"}
        assert loss["consequence-aware"] <= loss["uniform"] + 1e-9
        assert loss["consequence-aware"] <= loss["difficulty-aware"] + 1e-9
    # a consequence-blind predictor keeps at most the oracle's gain, about the same as
    # difficulty-aware with the labels
    shares = [s["share"] for s in result["oracle_share"]
              if s["policy"] == "consequence-aware" and s["share"] is not None]
    assert shares and max(shares) <= 1 + 1e-9
    assert json.loads(json.dumps(result)) == result


def test_observed_outcomes_replace_the_miss_model():
    settings = configuration.load(env={})
    table = strategy_table(settings, usd=False)
    plain = record(1, "high", "medium", 10)
    observed = record(2, "high", "medium", 10, outcomes={"attempts": 4, "successes": 1})
    truth = bench.truth_loss([plain, observed], settings, table)
    scale = 25.0 * DEFECT_RATES["medium"]  # the high weight times the medium defect rate
    assert truth[0, 1] == pytest.approx(scale * table.miss_tier[1, 1])
    assert truth[1].tolist() == pytest.approx(
        [scale, scale * 3 / 4, scale * 1 / 4,  # multi: 3 draws of 4, C(3,3)/C(4,3)
         scale * (1 - (1 - 0) * 0.9)])  # deliberate: 5 draws capped at 4 always include it


def test_unlabelled_or_bad_lines_are_reported(tmp_path):
    path = tmp_path / "data.jsonl"
    good = record(1, "low", "low", 3)
    bad = record(2, "low", "low", 3, outcomes={"attempts": 2, "successes": 3})
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps({"id": "x"}),
                               json.dumps(bad)]) + "\n", encoding="utf-8")
    kept, problems = bench.read_records(path)
    assert [r["id"] for r in kept] == [good["id"]]
    assert len(problems) == 3
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n", encoding="utf-8")
    with pytest.raises(InputError, match="no labelled records"):
        bench.read_records(empty)


def test_command_writes_json_with_rows(tmp_path):
    from cartriage.commands import bench as command

    data = tmp_path / "data.jsonl"
    broken = {**record(99, "high", "high", 3), "diff": "@@ -1,5 +1,1 @@\n+x\n"}
    lines = [json.dumps(r) for r in [*records(12), broken]]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "bench.json"
    assert command.run(data=data, fmt="json", output=out, config=None) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {r["inputs"] for r in result["rows"]} == {"predicted", "oracle"}
    assert result["records"] == 12
    assert any("1 record(s) could not be scored" in n for n in result["notes"])
    assert result["oracle_share"]
    assert {r["policy"] for r in result["rows"]} == {
        "uniform", "difficulty-ranked", "difficulty-aware", "consequence-aware",
        "priority-aware"}
    text = tmp_path / "bench.txt"
    assert command.run(data=data, fmt="text", output=text, config=None) == 0
    assert "expected cost-weighted loss" in text.read_text(encoding="utf-8")


def test_command_says_when_the_records_are_the_models_training_data(tmp_path, monkeypatch):
    from cartriage.commands import bench as command
    from cartriage.scoring.model import model_dir

    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records(12)) + "\n", encoding="utf-8")
    models = tmp_path / "models"
    shutil.copytree(model_dir(), models)
    card = json.loads((models / "difficulty.json").read_text(encoding="utf-8"))
    card["training_data"]["sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
    (models / "difficulty.json").write_text(json.dumps(card), encoding="utf-8")
    out = tmp_path / "bench.json"
    assert command.run(data=data, fmt="json", output=out, config=None) == 0
    assert not any("in-sample" in n for n in json.loads(out.read_text())["notes"])
    monkeypatch.setenv("CARTRIAGE_MODEL_DIR", str(models))
    assert command.run(data=data, fmt="json", output=out, config=None) == 0
    notes = json.loads(out.read_text())["notes"]
    assert any("difficulty model was trained on these records" in n and "in-sample" in n
               for n in notes)


def three_repos(n: int = 24) -> list[dict]:
    """Every repository holds every tier of both labels (a latin square over nine records)."""
    return [{**r, "repo": f"o/r{(i + i // 3) % 3}", "id": f"o/r{(i + i // 3) % 3}@{i:09d}"}
            for i, r in enumerate(records(n))]


def test_cross_repo_inputs_never_see_the_held_out_repository():
    settings = configuration.load(env={})
    recs = three_repos()
    base = bench.cross_repo_inputs(recs, settings, settings)
    assert base["difficulty"].shape == (len(recs), 3)
    assert np.allclose(base["difficulty"].sum(axis=1), 1)
    # relabel repository o/r0: its own predictions stay, the others' (trained on it) move
    flipped = [{**r, "labels": {**r["labels"], "consequence": "high", "difficulty": "high"}}
               if r["repo"] == "o/r0" else r for r in recs]
    moved = bench.cross_repo_inputs(flipped, settings, settings)
    held = np.array([r["repo"] == "o/r0" for r in recs])
    for key in ("difficulty", "defect", "weight"):
        assert np.allclose(moved[key][held], base[key][held])
        assert not np.allclose(moved[key][~held], base[key][~held])


def test_cross_repo_needs_a_repo_field_and_two_repositories():
    settings = configuration.load(env={})
    recs = three_repos(9)
    with pytest.raises(InputError, match="needs a `repo` field"):
        bench.cross_repo_inputs([*recs, {**records(1)[0], "repo": None}], settings, settings)
    with pytest.raises(InputError, match="at least 2 repositories"):
        bench.cross_repo_inputs(records(9), settings, settings)
    # without o/r1 the records would all be high: no model can be trained for that fold
    one_tier = [r if r["repo"] == "o/r1" else
                {**r, "labels": {**r["labels"], "consequence": "high"}} for r in recs]
    with pytest.raises(InputError, match="without o/r1 .* only one consequence tier"):
        bench.cross_repo_inputs(one_tier, settings, settings)


def test_cross_repo_without_scikit_learn_says_how_to_install(monkeypatch):
    from cartriage.errors import CartriageError

    monkeypatch.setitem(__import__("sys").modules, "sklearn", None)
    with pytest.raises(CartriageError, match=r'pip install -e "\.\[train\]"'):
        bench.cross_repo_inputs(three_repos(9), configuration.load(env={}), None)


def test_command_adds_cross_repo_rows_and_their_share_of_the_oracle(tmp_path):
    from cartriage.commands import bench as command

    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in three_repos()) + "\n", encoding="utf-8")
    out = tmp_path / "bench.json"
    assert command.run(data=data, fmt="json", output=out, config=None, cross_repo=True) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert [k for k in dict.fromkeys(r["inputs"] for r in result["rows"])] == [
        "predicted", "cross-repo", "oracle"]
    assert {"policy", "budget", "inputs", "loss"} <= result["rows"][0].keys()
    assert {s["inputs"] for s in result["oracle_share"]} == {"predicted", "cross-repo"}
    assert set(result["summary"]["cross-repo"]["oracle_share"]) == {
        "difficulty-ranked", "difficulty-aware", "consequence-aware", "priority-aware"}
    # other models, other choices: the cross-repo losses are not the in-sample ones
    loss = {(r["inputs"], r["policy"], r["budget"]): r["loss"] for r in result["rows"]}
    assert any(loss[("cross-repo", p, b)] != loss[("predicted", p, b)]
               for _, p, b in loss if p != "uniform")
    text = tmp_path / "bench.txt"
    assert command.run(data=data, fmt="text", output=text, config=None, cross_repo=True) == 0
    shown = text.read_text(encoding="utf-8")
    assert "expected cost-weighted loss, cross-repo inputs" in shown
    assert "share of the oracle's gain over uniform kept with cross-repo inputs" in shown
    bare = tmp_path / "bare.jsonl"
    bare.write_text("\n".join(json.dumps({k: v for k, v in r.items() if k != "repo"})
                              for r in three_repos(6)) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs a `repo` field"):
        command.run(data=bare, fmt="json", output=out, config=None, cross_repo=True)
