"""The pieces of the review stage on their own: redaction, validation, anchoring, merging."""

from __future__ import annotations

import pytest
from llm_server import finding

from cartriage.config import load
from cartriage.errors import UsageError
from cartriage.intake.change import Hunk
from cartriage.review import configured_model, prompts
from cartriage.review.redact import REDACTED, is_secret_file, redact
from cartriage.review.runner import changed_lines
from cartriage.review.strategies import merge, title_words
from cartriage.review.validate import (
    FINDINGS_SCHEMA,
    Lines,
    Malformed,
    anchor,
    check_findings,
    check_judgement,
    parse_json,
)


@pytest.mark.parametrize("line, secret", [
    ('password = "hunter2"', "hunter2"),
    ("DB_PASSWORD=hunter22", "hunter22"),
    ('os.environ["API_KEY"] = "xyz123456"', "xyz123456"),
    ("key = AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ("token: ghp_" + "a" * 36, "ghp_" + "a" * 36),
    ("url = postgres://user:pa55w0rd@db:5432/app", "pa55w0rd"),
    ("Authorization: Bearer abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),
    ('"client_secret": "my long phrase here"', "my long phrase here"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3In0.c2lnbmF0dXJlMTIz", "eyJzdWIi"),
])
def test_secrets_are_redacted(line, secret):
    text, count = redact(line)
    assert secret not in text and REDACTED in text and count == 1


@pytest.mark.parametrize("line", [
    "token = get_token()", "self.password = password", "tokens = count_tokens(text)",
    'author = "Bob"', "password = os.environ['PASSWORD']", "api_key = settings.api_key",
    "secret = None",
])
def test_code_that_handles_secrets_is_left_alone(line):
    assert redact(line) == (line, 0)


def test_private_key_blocks_are_redacted_keeping_line_prefixes():
    text = ("    12 + -----BEGIN RSA PRIVATE KEY-----\n    13 + MIIEowIBAAKCAQEA\n"
            "    14 + abcdef\n    15 + -----END RSA PRIVATE KEY-----\n    16 + x = 1")
    out, count = redact(text)
    assert count == 1 and "MIIEowIBAAKCAQEA" not in out and "abcdef" not in out
    assert out.splitlines()[1] == "    13 + " + REDACTED and out.endswith("x = 1")


@pytest.mark.parametrize("path, secret", [
    (".env", True), ("deploy/.env.production", True), ("config/prod.env", True),
    ("certs/server.pem", True), ("home/.ssh/id_rsa", True), (".npmrc", True),
    (".env.example", False), ("app/env.py", False), ("README.md", False),
])
def test_secret_files(path, secret):
    assert is_secret_file(path) is secret


def test_parse_json_tolerates_fences_and_prose_but_not_garbage():
    assert parse_json('```json\n{"findings": []}\n```') == {"findings": []}
    assert parse_json('Here you go: {"findings": []} Hope it helps') == {"findings": []}
    with pytest.raises(Malformed, match="not valid JSON"):
        parse_json("{findings: [")


def test_check_findings_normalises_and_reports_bad_items():
    good = finding("a.py", 3, "  Off   by one ", severity="MAJOR", confidence="0.7")
    del good["line_end"]
    valid, errors = check_findings({"findings": [good, {"file": "a.py"}, "text",
                                                 finding("a.py", 2, confidence=3)]})
    assert valid == [{**finding("a.py", 3, "Off by one", confidence=0.7)}]
    assert len(errors) == 3 and "missing line_start" in errors[0]
    with pytest.raises(Malformed):
        check_findings({"results": []})
    with pytest.raises(Malformed):
        check_findings({"findings": "none"})


def test_valid_findings_match_the_published_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    valid, _ = check_findings([finding("a.py", 3, line_end=5, severity="minor")])
    jsonschema.validate({"findings": valid}, FINDINGS_SCHEMA)


def test_check_judgement_needs_existing_candidates():
    valid, errors = check_judgement({"confirmed": [
        {"candidate": 2, "reason": "real", "severity": "critical"},
        {"candidate": 2, "reason": "duplicate"}, {"candidate": 9, "reason": "x"},
        {"reason": "no number"}]}, candidates=3)
    assert valid == [{"candidate": 2, "reason": "real", "severity": "critical"}]
    assert len(errors) == 2


def test_anchor_keeps_moves_or_drops():
    lines = Lines("src/a.py", (10, 11, 20))
    assert anchor(finding("src/a.py", 9, line_end=12), lines) == (
        finding("src/a.py", 9, line_end=12), False)
    moved, reanchored = anchor(finding("./src/a.py", 24), lines)
    assert reanchored and (moved["line_start"], moved["line_end"]) == (20, 20)
    assert moved["file"] == "src/a.py"  # the unit's spelling, not the model's "./src/a.py"
    kept, _ = anchor(finding("b/src/a.py", 10), lines)
    assert kept["file"] == "src/a.py"
    assert anchor(finding("src/a.py", 26), lines) == (None, False)
    assert anchor(finding("src/b.py", 10), lines) == (None, False)


def test_changed_lines_cover_additions_deletions_and_deleted_files():
    hunk = Hunk(5, 3, 5, 3, "", (" a", "-b", "+c", " d"))
    pure_removal = Hunk(20, 2, 19, 0, "", ("-x", "-y"))
    assert changed_lines((hunk, pure_removal)) == (6, 19)
    assert changed_lines((Hunk(1, 2, 0, 0, "", ("-x", "-y")),), deleted=True) == (1, 2)


def test_render_hunks_numbers_new_lines_and_old_lines_for_deleted_files():
    hunk = Hunk(5, 3, 5, 3, "def f():", (" a", "-b", "+c", " d"))
    assert prompts.render_hunks((hunk,)).splitlines() == [
        "@@ -5,3 +5,3 @@ def f():", "     5   a", "       - b", "     6 + c", "     7   d"]
    deleted = prompts.render_hunks((Hunk(1, 2, 0, 0, "", ("-x", "-y")),), deleted=True)
    assert deleted.splitlines()[1:] == ["     1 - x", "     2 - y"]


def test_title_words_ignore_case_punctuation_and_plurals():
    assert title_words("Empty passwords are accepted!") == \
        title_words("empty password are accepted")


def test_merge_clusters_by_file_location_and_title():
    a = [finding("x.py", 10, "Null dereference of user", confidence=1.0),
         finding("x.py", 40, "SQL injection in query")]
    b = [finding("x.py", 11, "Null dereference on user", confidence=0.5),
         finding("x.py", 10, "Unrelated naming issue"), finding("y.py", 10, "Null dereference")]
    merged = merge([(a, 0), (b, 0)], 2)
    support = {(f["file"], f["title"]): (f["support"], f["samples"]) for f in merged}
    assert support == {("x.py", "Null dereference of user"): (2, 2),
                       ("x.py", "SQL injection in query"): (1, 2),
                       ("x.py", "Unrelated naming issue"): (1, 2),
                       ("y.py", "Null dereference"): (1, 2)}
    assert merged[0]["confidence"] == pytest.approx(0.75)


def config(tmp_path, **llm):
    return load(cwd=tmp_path, env={"HOME": str(tmp_path)},
                overrides={("llm", k): v for k, v in llm.items()})


def test_configured_model(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MY_KEY", raising=False)
    assert configured_model(config(tmp_path)) is None
    with pytest.raises(UsageError, match=r"\$OPENAI_API_KEY is not set"):
        configured_model(config(tmp_path, model="openai/gpt-4o-mini"))
    monkeypatch.setenv("OPENAI_API_KEY", " ")
    with pytest.raises(UsageError, match=r"\$OPENAI_API_KEY is empty"):
        configured_model(config(tmp_path, model="openai/gpt-4o-mini"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert configured_model(config(tmp_path, model="openai/gpt-4o-mini")) == "openai/gpt-4o-mini"
    with pytest.raises(UsageError, match=r"\$MY_KEY \(\[llm\] api_key_env\) is not set"):
        configured_model(config(tmp_path, model="x/y", api_key_env="MY_KEY"))
    monkeypatch.setenv("MY_KEY", "k")
    assert configured_model(config(tmp_path, model="x/y", api_key_env="MY_KEY")) == "x/y"
    assert configured_model(config(tmp_path, api_base="http://127.0.0.1:1/v1"),
                            model="openai/local") == "openai/local"
    assert configured_model(config(tmp_path, model="ollama/llama3")) == "ollama/llama3"
    strategy_only = config(tmp_path)
    strategy_only.strategies["deliberate"]["model"] = "anthropic/claude-3-5-haiku-20241022"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert configured_model(strategy_only) == "anthropic/claude-3-5-haiku-20241022"


def test_price_treats_a_zero_price_as_unknown_except_for_local_providers():
    from cartriage.review.llm import price

    assert price("openai/gpt-4o-mini", 1000, 1000) == pytest.approx(0.00075)
    assert price("openai/no-such-model", 1000, 1000) is None
    assert price("anthropic/claude-sonnet-4-20250514", 1000, 1000) is None  # $0 in the map
    assert price("ollama/qwen2.5-coder:7b", 1000, 1000) == 0.0
