"""The fast secret scan (rules located in the whole text first, keys tried where they can start)
finds exactly what checking every rule on every line finds."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secret_corpus import corpus_patch

from cartriage.review import redact


def every_rule_on_every_line(lines: list[str]) -> list[tuple[int, list[redact.Secret]]]:
    """The slow path: no line skipped, every rule run on each."""
    everything = {line: set(redact._all_rules()) for line in lines}
    return list(redact._scan(lines, everything))


def assigned_everywhere(line: str) -> list[tuple[int, int]]:
    return [match.span() for match in redact._ASSIGNED.finditer(line)]


CORPUS_LINES = corpus_patch(seed=5)[0].split("\n")
FRAGMENTS = [
    "password", "PASSWORD", "pwd", "pass", "passphrase", "secret", "api_key", "SECRET_KEY",
    "_key", "token", "Token", "dsn", "salt", "client_secret", "AccountKey=", "Password=",
    " = ", "=", ": ", ":=", "=>", ",", ";", '"', "'", "`", "]", "[", "(", ")", "{", "}", "<", ">",
    "<password>", "</password>", " -u ", "--user ", "Bearer ", "Basic ", "://", "@", ":", "/",
    "https://", "redis://:", "hooks.slack.com/services/", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "PuTTY-User-Key-File-2", "Private-MAC:", "\\n",
    "sk_live_", "ghp_", "AKIA", "xoxb-", "SG.", "eyJ", "AIza", "npm_", "hf_", "glpat-", "AC",
    "pypi-", "cloudant", "ibm", "softlayer", "sl", "AP", "AKC", "-us1", "T3BlbkFJ", ".atlasv1.",
    "İ", "ſ", "K", "é", "\t", "  ", "+", "-", " ", "0123456789", "abcdef0123456789abcdef01",
    "Zq8vN3xR7tLp2Kw9Ab", "aMI+vjpgmj21daK8jfXpvp++sT33hKQ9IsgaPoODKzyI", "x" * 45,
]
WORDY = st.text(alphabet="abcXYZ019_-.+/=:@'\" \t", max_size=12)
LINE = st.lists(st.one_of(st.sampled_from(FRAGMENTS), WORDY), max_size=10).map("".join)
LINES = st.lists(st.one_of(LINE, st.sampled_from(CORPUS_LINES)), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_the_fast_scan_finds_what_every_rule_on_every_line_finds(lines):
    assert list(redact.scan(lines)) == every_rule_on_every_line(lines)


def added(line: str) -> bool:
    return line[:1] == "+"


MARKED = st.lists(st.tuples(st.sampled_from("+- "), st.one_of(LINE, st.sampled_from(CORPUS_LINES))
                            ).map("".join), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MARKED, min_size=1, max_size=3))
def test_scanning_only_added_lines_finds_what_a_full_scan_finds_in_them(blocks):
    """Other lines are searched only for a key block's start (its body may be added lines)."""
    def in_added(found):
        return [(b, i, secrets) for b, i, secrets in found if added(blocks[b][i])]

    assert (in_added(redact.scan_blocks(blocks, added))
            == in_added(redact.scan_blocks(blocks)))


def test_a_key_opened_in_a_context_line_runs_on_into_added_lines():
    block = [" -----BEGIN RSA PRIVATE KEY-----", "+" + "A1b2" * 16,
             " -----END RSA PRIVATE KEY-----", "+x = 1"]
    found = list(redact.scan_blocks([block], added))
    assert [(index, [s.kind for s in secrets]) for _, index, secrets in found] == [
        (1, ["private key"])]


@settings(max_examples=300, deadline=None)
@given(LINE)
def test_keys_are_tried_only_where_a_match_can_start(line):
    assert [match.span() for match in redact._assignments(line)] == assigned_everywhere(line)


def test_the_corpus_is_found_the_same_both_ways():
    found = list(redact.scan(CORPUS_LINES))
    assert len(found) > 150 and found == every_rule_on_every_line(CORPUS_LINES)


def test_hunks_are_located_together_but_scanned_apart():
    """A key block opened in one hunk does not run on into the next."""
    first = ["+-----BEGIN RSA PRIVATE KEY-----", "+" + "A1b2" * 16]
    second = ["+x = 1", '+token = "8f2Jd9sKq1LmZx0Pw7RtYv3N"']
    found = list(redact.scan_blocks([first, second]))
    assert [(block, index) for block, index, _ in found] == [(0, 1), (1, 1)]
    assert found[1][2][0].kind == "secret assigned to token"



def test_keywords_spelled_with_letters_that_fold_to_ascii_are_found():
    """`(?i)pass` matches `paſſ` (long s), which the lower-case literal `pass` is not in."""
    lines = ["x = 1", 'paſſword = "Tr0ub4dor&3xyz"', 'TO\u212aEN = "8f2Jd9sKq1LmZx0Pw7RtYv3N"']
    found = list(redact.scan(lines))
    assert [index for index, _ in found] == [1, 2] and found == every_rule_on_every_line(lines)


def test_a_line_holding_a_newline_is_still_scanned():
    line = 'x = 1\npassword = "Tr0ub4dor&3xyz"'
    assert [index for index, _ in redact.scan([line])] == [0]


def test_every_rule_is_located_by_a_literal_or_by_its_own_regex():
    for rule, fold, literals, whole in redact._locators():
        assert whole.pattern == rule.pattern and whole.flags & re.MULTILINE
        assert fold == bool(re.compile(rule.pattern, rule.flags).flags & re.IGNORECASE)
        for options in literals:
            assert options and all(option == option.lower() or not fold for option in options)
