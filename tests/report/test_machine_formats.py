"""JSON, SARIF (validated against the official 2.1.0 schema), Markdown and rdjsonl."""

from __future__ import annotations

import json

import pytest
from report_support import SARIF_SCHEMA, default_findings, make_result

from cartriage import report
from cartriage.review.findings import Finding


@pytest.fixture(scope="module")
def sarif_validator():
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"the official SARIF 2.1.0 schema is not at {SARIF_SCHEMA}")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def test_json_has_versioned_stable_keys(result):
    doc = json.loads(report.render(result, "json", None))
    assert doc["schema_version"] == 1 and doc["kind"] == "review"
    assert set(doc) >= {"change", "analysis", "scores", "plan", "review", "findings", "spend",
                        "coverage", "tool", "messages"}
    assert doc["change"]["files"] == 4 and doc["change"]["hunks"] == 8
    assert doc["change"]["file_changes"][0]["status"] == "modified"
    facts = doc["analysis"]["files"][1]
    assert facts["roles"][0] == {"role": "security", "evidence": "path matches security/**"}
    assert facts["symbols"][0]["signature_changed"] is True and facts["fan_in"] == 42
    unit = doc["scores"]["units"][0]
    assert unit["consequence"]["tier"] == "high" and unit["difficulty"]["tier"] == "medium"
    assert unit["consequence"]["top_features"][0] == {"feature": "role:migration",
                                                      "contribution": 0.42}
    assert doc["plan"]["by_strategy"]["deliberate"] == {"units": 1, "tokens": 9000,
                                                        "usd": 0.009}
    assert [f["severity"] for f in doc["findings"]] == ["critical", "minor", "info"]
    assert doc["spend"] == {"budget_tokens": 20000, "budget_usd": None, "planned_tokens": 16500,
                            "planned_usd": 0.0165, "tokens": 9500, "usd": 0.0123,
                            "redactions": 2}
    assert doc["review"]["complete"] is False
    cov = doc["coverage"]
    assert cov["units"] == 4 and cov["covered"] == 2 and cov["complete"] is False
    assert cov["by_tier"]["high"] == {"units": 2, "covered": 1}
    assert cov["not_covered"][0] == {"unit_id": "app/auth/session.py", "consequence": "high",
                                     "status": "not reviewed: budget",
                                     "reason": "budget exhausted"}


def test_json_plan_only(plan_result):
    doc = json.loads(report.render(plan_result, "json", None))
    assert doc["kind"] == "plan" and doc["review"] is None and doc["findings"] == []
    assert doc["spend"]["tokens"] is None and doc["coverage"]["covered"] == 3


def test_json_carries_weights_from_config(result, tmp_path):
    from cartriage import config

    doc = json.loads(report.render(result, "json", config.load(cwd=tmp_path, env={})))
    assert doc["weights"] == {"low": 1.0, "medium": 5.0, "high": 25.0}


def test_sarif_is_valid_and_maps_severities(result, sarif_validator):
    sarif = json.loads(report.render(result, "sarif", None))
    sarif_validator.validate(sarif)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["data-loss", "style", "performance"]
    levels = [(r["ruleId"], r["level"]) for r in run["results"]]
    assert levels == [("data-loss", "error"), ("style", "warning"), ("performance", "note")]
    first = run["results"][0]
    assert first["ruleIndex"] == 0
    region = first["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 12, "endLine": 14}
    props = first["properties"]
    assert props["consequence"] == "high" and props["strategy"] == "deliberate"
    assert props["support"] == "3/3" and props["difficulty"] == "medium"
    assert run["invocations"][0]["executionSuccessful"] is False
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert "app/auth/session.py (high consequence) not reviewed: budget" in \
        notes[0]["message"]["text"]


def test_sarif_major_is_error_and_security_gets_a_severity(sarif_validator):
    findings = [Finding("app/auth/session.py", 0, 0, "major", "Security", "Token not checked",
                        "", "", 0.8, "app/auth/session.py", "multi", 2, 3),
                Finding("my dir/a b.py", 5, 2, "minor", "security", "x", "", "", 0.5,
                        "app/auth/session.py", "multi")]
    sarif = json.loads(report.render(make_result(findings=findings), "sarif", None))
    sarif_validator.validate(sarif)
    run = sarif["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == 1  # one rule per category
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["properties"]["security-severity"] == "7.0"
    assert rule["defaultConfiguration"]["level"] == "error"
    first, second = run["results"]
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 1, "endLine": 1}
    assert second["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "my%20dir/a%20b.py"
    assert second["locations"][0]["physicalLocation"]["region"] == {"startLine": 5,
                                                                     "endLine": 5}


def test_sarif_plan_only_is_valid_and_empty(plan_result, sarif_validator):
    sarif = json.loads(report.render(plan_result, "sarif", None))
    sarif_validator.validate(sarif)
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_sarif_fingerprints_are_stable_across_line_moves():
    a = default_findings()[0]
    moved = Finding(a.file, a.line_start + 7, a.line_end + 7, a.severity, a.category,
                    a.title, a.explanation, a.suggestion, a.confidence, a.unit_id, a.strategy)
    prints = []
    for f in (a, moved):
        sarif = json.loads(report.render(make_result(findings=[f]), "sarif", None))
        prints.append(sarif["runs"][0]["results"][0]["partialFingerprints"])
    assert prints[0] == prints[1]


def test_markdown_comment(result):
    md = report.render(result, "markdown", None)
    assert md.splitlines()[0] == "<!-- cartriage -->"
    assert "| **high** | 2/4 reviewed | 1 critical, 1 minor, 1 info |" in md
    assert "**Review incomplete**: 1 planned unit(s) were not reviewed" in md
    assert "`migrations/0042_drop_email.py:12-14`" in md
    assert "Unused import \\| pipe" in md  # a pipe cannot break the table
    details = md[md.index("<details>"):md.index("</details>")]
    assert "| `app/auth/session.py` | security, core | high .10/.10/.80 | high | multi |" in details
    assert "secrets redacted: 2" in md


def test_markdown_escapes_html_and_the_marker():
    evil = Finding("a.py", 1, 1, "major", "bug", "<!-- cartriage --> </details><img src=x>",
                   "", "<script>alert(1)</script>", 0.5, "app/views/profile.py", "single")
    md = report.render(make_result(findings=[evil]), "markdown", None)
    assert md.count("<!-- cartriage -->") == 1
    assert "<script>" not in md and "<img" not in md and md.count("</details>") == 1


def test_markdown_keeps_links_images_and_mentions_inert():
    evil = Finding("a.py", 1, 1, "major", "bug", "see ![x](http://evil/p.png) @org/admins",
                   "", "[click](http://x)", 0.5, "app/views/profile.py", "single")
    md = report.render(make_result(findings=[evil]), "markdown", None, verbose=True)
    assert "![x](" not in md and "[click](" not in md and "@org" not in md
    assert "\\!\\[x\\](http://evil/p.png)" in md and "&#64;org/admins" in md


def test_markdown_plan_only(plan_result):
    md = report.render(plan_result, "markdown", None)
    assert "## cartriage plan" in md and "not reviewed (plan only)" in md
    assert "est. 16,500 tokens ($0.0165)" in md and "Review incomplete" not in md


def test_rdjsonl_one_diagnostic_per_line(result):
    out = report.render(result, "rdjsonl", None)
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["location"] == {"path": "migrations/0042_drop_email.py",
                                 "range": {"start": {"line": 12}, "end": {"line": 14}}}
    assert first["severity"] == "ERROR" and first["code"] == {"value": "data-loss"}
    assert first["source"] == {"name": "cartriage"}
    assert "Suggestion: Copy the data" in first["message"]
    assert [d["severity"] for d in lines] == ["ERROR", "WARNING", "INFO"]


def test_rdjsonl_plan_only_is_empty(plan_result):
    assert report.render(plan_result, "rdjsonl", None) == ""
