"""A secret in an added line is a finding (security, critical, file and line, the kind, never
the value) in every report format, with or without a model."""

from __future__ import annotations

import pytest
from llm_server import LLMServer
from review_support import config_for
from test_cli import cartriage, err, out

from cartriage import pipeline, review
from cartriage.config import load
from cartriage.intake import ChangeRequest
from cartriage.intake.change import ChangeSet
from cartriage.intake.diff import parse_diff
from cartriage.report import exit_code, render
from cartriage.review import secrets

STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
KEY_BODY = ["MIIEowIBAAKCAQEA7bq9rVrX1Jq5bq9rVrX1Jq5bq9rVrX1Jq5bq9rVrX1Jq5bq9",
            "Z3x9T2mQpL8vK4nR6sW1yU0oI7eA5dF3gH2jK9lM8nB6vC4xZ1qW3eR5tY7uI9oP"]
SOURCE = ("import os\n\n"
          f'STRIPE_KEY = "{STRIPE}"\n'
          "PRIVATE = '''\n-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(KEY_BODY)
          + "\n-----END RSA PRIVATE KEY-----\n'''\n"
          "token = get_token()\n")


def test_added_secrets_are_findings_with_kind_and_line_never_the_value():
    patch = ("diff --git a/app/pay.py b/app/pay.py\n--- a/app/pay.py\n+++ b/app/pay.py\n"
             "@@ -1,2 +1,9 @@\n import os\n-OLD = 'sk_live_" + "x1" * 12 + "'\n"
             + "".join(f"+{line}\n" for line in SOURCE.splitlines()[2:]))
    found = secrets.findings(ChangeSet(source="diff", files=parse_diff(patch.encode())))
    assert [(f.line_start, f.line_end, f.severity, f.category) for f in found] == [
        (2, 2, "critical", "security"), (5, 6, "critical", "security")]  # the key body
    assert "Stripe" in found[0].title and "private key" in found[1].title
    assert not any(STRIPE in f.title + f.explanation or KEY_BODY[0] in f.explanation
                   for f in found)


@pytest.fixture
def project(repo):
    repo.commit("Initial import", {"app/pay.py": "import os\n"})
    repo.commit("Add payments", {"app/pay.py": SOURCE})
    return repo


FORMATS = ("text", "json", "sarif", "markdown", "rdjsonl")


@pytest.mark.parametrize("with_model", [False, True])
def test_secret_findings_in_every_format(project, tmp_path, with_model):
    config = load(cwd=project.path, env={"HOME": str(tmp_path)})
    result = pipeline.plan(ChangeRequest(repo=project.path, rev="HEAD~1"), config)
    if with_model:
        with LLMServer() as server:
            result.review = review.run(result, config_for(server.url, tmp_path))
            assert server.count > 0
    for fmt in FORMATS:
        report = render(result, fmt, config, color=False)
        assert "app/pay.py" in report and "Stripe" in report and "private key" in report, fmt
        assert STRIPE not in report and KEY_BODY[0] not in report, fmt
    assert exit_code(result, "critical") == 1


def test_a_plan_without_a_model_gates_on_the_secret(project, tmp_path):
    done = cartriage("review", "HEAD~1", "--format", "sarif", "--fail-on", "critical",
                     cwd=project.path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                                            "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""})
    assert done.returncode == 1, err(done)
    assert "Secret in an added line" in out(done) and STRIPE not in out(done)


@pytest.mark.parametrize("line", [
    'SECRET_REASON = "skipped: the file may hold secrets (.env, keys, credentials)"',
    'api_key_env = "OPENAI_API_KEY"',
    "    '[llm]\\nmodel = \"gpt-4o-mini\"\\n[budget]\\ntokens = 12000\\nusd = 0.01\\n'",
    'model = "anthropic/claude-haiku-4-5"',
    '  "float32_base64": "aMI+vjpgmj21daK8jfXpvp++sT33hKQ9IsgaPoODKzyIVrW+VIlpveZqeT1DOyM8Du"',
    "max_tokens: 4096",
])
def test_names_sentences_and_encoded_data_are_redacted_but_not_findings(line):
    patch = ("diff --git a/app/x.py b/app/x.py\n--- a/app/x.py\n+++ b/app/x.py\n"
             f"@@ -0,0 +1 @@\n+{line}\n")
    assert secrets.findings(ChangeSet(source="diff", files=parse_diff(patch.encode()))) == ()


@pytest.mark.parametrize("line", [
    'DB_PASSWORD = "Tr0ub4dor&3xyz"',
    "password: hunter2hunter2",
    'client_secret = "8f2Jd9sKq1LmZx0Pw7RtYv3N"',
    'const token = "ghp_' + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + '"',
])
def test_machine_made_or_password_like_values_are_findings(line):
    patch = ("diff --git a/app/x.py b/app/x.py\n--- a/app/x.py\n+++ b/app/x.py\n"
             f"@@ -0,0 +1 @@\n+{line}\n")
    found = secrets.findings(ChangeSet(source="diff", files=parse_diff(patch.encode())))
    assert len(found) == 1 and found[0].severity == "critical"
