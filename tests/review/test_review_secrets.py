"""Secrets never leave: a corpus of planted secrets in many formats, measured at the server."""

from __future__ import annotations

import json

from llm_server import prompt_text
from review_support import config_for, patch_for, repo_result, result_for
from secret_corpus import FORMATS, corpus_patch

from cartriage import review
from cartriage.analysis.facts import Analysis, FileFacts, Symbol
from cartriage.review.redact import redact


def leaks(text: str, planted: dict[str, list[str]]) -> dict[str, list[str]]:
    found = {name: [v for v in values if v in text] for name, values in planted.items()}
    return {name: values for name, values in found.items() if values}


def test_the_corpus_is_wide_enough():
    _, planted = corpus_patch()
    assert len(FORMATS) >= 40 and sum(len(v) for v in planted.values()) >= 150


def test_no_planted_secret_survives_redaction():
    patch, planted = corpus_patch()
    assert leaks(redact(patch)[0], planted) == {}


def test_no_planted_secret_reaches_the_server(llm_server, tmp_path):
    patch, planted = corpus_patch(seed=12)
    title = f"rotate keys; old one was sk_live_{planted['Stripe live key'][0]}"
    result = review.run(result_for(patch, title=title, description="\n".join(
        planted["PEM RSA block"][:2])), config_for(llm_server.url, tmp_path, max_concurrency=2))
    sent = json.dumps(llm_server.requests) + "".join(prompt_text(b) for b in llm_server.requests)
    assert llm_server.count > 0 and all(u.status != "failed" for u in result.units)
    assert leaks(sent, planted) == {}
    assert result.redactions >= sum(len(v) for v in planted.values()) // 2


def test_default_values_in_changed_signatures_are_redacted(llm_server, tmp_path):
    secret = "Zq8vN3xR7tLp2Kw9"
    result = result_for(patch_for("app/db.py", ["    return connect(host)"]))
    result.analysis = Analysis(units=result.analysis.units, files=tuple(
        FileFacts(f.path, f.language, f.roles, (Symbol(
            "connect", "function", "modified", True, True, "def connect(host)",
            f'def connect(host, password="{secret}")'),)) for f in result.analysis.files))
    outcome = review.run(result, config_for(llm_server.url, tmp_path))
    sent = prompt_text(llm_server.requests[0])
    assert secret not in sent and "def connect(host, password=" in sent
    assert outcome.redactions == 1


def test_repository_context_is_redacted_and_secret_files_are_never_read(
        repo, llm_server, tmp_path):
    secret = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    billing = (f'def charge(amount):\n    key = "{secret}"\n    return post(key, amount)\n\n\n'
               'def post(key, amount):\n    return amount\n')
    files = {"app/billing.py": billing,
             "app/shop.py": "from app.billing import charge\n\n\ndef buy(n):\n"
                            "    return charge(n)\n",
             "config/.env": "TEST_CHARGE=charge(1) PASSWORD=hunter2-very-secret\n"}
    result, settings = repo_result(
        repo, files, {"app/billing.py": billing.replace("def charge(amount):",
                                                        "def charge(amount, currency):")},
        llm_server.url, tmp_path, "callers")
    (assignment,) = result.plan.assignments
    assert assignment.context == "callers"
    outcome = review.run(result, settings)
    sent = json.dumps(llm_server.requests)
    text = prompt_text(llm_server.requests[0])
    assert "# app/billing.py lines 1-3: function charge" in text
    assert "app/shop.py:5: return charge(n)" in text  # a call site of the changed signature
    assert secret not in sent and "hunter2" not in sent and ".env" not in sent
    assert outcome.redactions >= 1
