import json

from cartriage.commands import score
from tests.scoring.helpers import record, write_jsonl


def test_scores_good_records_and_reports_bad_ones(tmp_path, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", [
        record("a1", "Add a column to users", {"migrations/0042_users.py": ["op.add_column()"]}),
        "{this is not json",
        record("i1", "Login page shows the wrong colour"),  # issue-only: no diff
        {"title": "no id here"},
        {"id": "acme/app@bad", "title": 42},
        {"id": "acme/app@bad2", "diff": "diff --git a/x b/x\n@@ -1,5 +1,5 @@\n+only one\n"},
        "",
        "[1, 2]",
        record("a2", "Typo in docs", {"docs/intro.md": ["Hello"]}),
    ])
    out = tmp_path / "out.jsonl"
    assert score.run(data, out) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 8
    good = [line for line in lines if "error" not in line]
    assert [g["id"] for g in good] == ["acme/app@a1", "acme/app@i1", "acme/app@a2"]
    for line in good:
        assert line["consequence"] in ("low", "medium", "high")
        assert abs(sum(line["probabilities"].values()) - 1) < 1e-3
        assert line["expected_weight"] > 0
        assert line["difficulty"]["tier"] in ("low", "medium", "high")
    assert good[1]["mode"] == "issue" and good[0]["mode"] == "diff"
    errors = [line for line in lines if "error" in line]
    assert errors[0] == {"id": None, "line": 2, "error": errors[0]["error"]}
    assert "not JSON" in errors[0]["error"]
    assert "'id'" in errors[1]["error"]
    assert errors[2]["id"] == "acme/app@bad" and "'title'" in errors[2]["error"]
    assert errors[3]["id"] == "acme/app@bad2" and "malformed" in errors[3]["error"]
    assert "not a JSON object" in errors[4]["error"]
    assert "5 of 8 records not scored" in capsys.readouterr().err


def test_writes_to_stdout_without_output(tmp_path, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", [record("a1", "Bump version", {"VERSION": ["2"]})])
    assert score.run(data) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["id"] == "acme/app@a1"
