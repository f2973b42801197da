"""detect-secrets' rules are read from the copy taken of the installed version's, without
importing it (its import pulls in `requests`), and from detect-secrets itself otherwise."""

from __future__ import annotations

import json
import subprocess
import sys

from cartriage.review import redact


def test_the_stored_rules_are_the_installed_detect_secrets_own():
    stored = json.loads(redact.RULES_FILE.read_text(encoding="utf-8"))
    assert stored["source"] == redact.detect_secrets_digest(), (
        "detect-secrets changed: run `python -c \"from cartriage.review import redact; "
        "redact.store_detect_secrets_rules()\"`")
    live = redact.detect_secrets_rules()
    assert [(kind, pattern.pattern, pattern.flags) for kind, pattern in live] == [
        tuple(rule) for rule in stored["rules"]]
    assert [(kind, rule.pattern, rule.flags) for kind, rule in redact._token_rules()[:len(live)]
            ] == [(kind, pattern.pattern, pattern.flags) for kind, pattern in live]
    assert [(kind, rule.compiled) for kind, rule in redact._token_rules()[:len(live)]] == live


def test_loading_the_rules_imports_neither_detect_secrets_nor_requests():
    code = ("import sys; from cartriage.review import redact; redact._token_rules(); "
            "print(sorted(m for m in ('detect_secrets', 'requests') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_another_detect_secrets_is_read_from_itself(monkeypatch):
    monkeypatch.setattr(redact, "detect_secrets_digest", lambda: "another version")
    redact._token_rules.cache_clear()
    try:
        rules = redact._token_rules()
    finally:
        redact._token_rules.cache_clear()
    assert "detect_secrets" in sys.modules
    assert list(rules[:-len(redact._EXTRA_TOKENS)]) == redact.detect_secrets_rules()
    monkeypatch.undo()  # the stored rules again (not cached while patched)
    assert len(rules) == len(redact._token_rules())
