"""Secrets never leave: a corpus of planted secrets in many formats, measured at the server."""

from __future__ import annotations

import json

from llm_server import prompt_text
from review_support import config_for, result_for
from secret_corpus import FORMATS, corpus_patch

from cartriage import review
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
