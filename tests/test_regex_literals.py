"""Literals read from a regex's parse tree: every match holds one of each set."""

from __future__ import annotations

import ast
import json
import re
import string
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartriage import regex_literals
from cartriage.analysis import roles
from cartriage.review import redact

PATTERNS = [re.compile(source) for pattern in roles.catalogue().patterns
            for source in pattern.text]


def test_the_folds_are_every_character_that_re_matches_to_an_ascii_letter():
    letter = re.compile("(?i)[a-z]")
    folds = {chr(code): chr(regex_literals.ASCII_FOLDS[code])
             for code in regex_literals.ASCII_FOLDS}
    found = {c: c.lower() if c.isascii() else next(a for a in string.ascii_lowercase
                                                   if re.fullmatch(f"(?i){a}", c))
             for c in map(chr, range(0x80, sys.maxunicode + 1)) if letter.fullmatch(c)}
    assert folds == found


def test_sets_are_read_from_runs_branches_and_repeats():
    assert regex_literals.read(r"(?i)\b(Bleach|nh3)\w*x{2,}") == (True, (
        frozenset({"bleach", "nh3"}), frozenset({"x"})))
    assert regex_literals.read(r"a?b*(c|\d)") == (False, ())
    assert regex_literals.read(r"(?i:pass)word") == (False, (frozenset({"word"}),))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATTERNS), st.data())
def test_every_match_of_a_role_pattern_holds_a_literal_of_each_set(pattern, data):
    text = data.draw(st.from_regex(pattern))
    match = pattern.search(text)
    assert match is not None
    haystack = regex_literals.fold(text) if pattern.flags & re.IGNORECASE else text
    for literals in regex_literals.read(pattern.pattern, pattern.flags)[1]:
        assert any(literal in haystack for literal in literals), (pattern.pattern, text)


def test_the_stored_sets_are_those_of_every_secret_and_role_rule():
    stored = json.loads(regex_literals.STORED.read_text(encoding="utf-8"))["regexes"]
    assert stored == regex_literals.rows([*redact.prefiltered(), *roles.prefiltered()]), (
        "a rule changed: run `python -c \"from cartriage import regex_literals; "
        "regex_literals.store()\"`")


def test_a_regex_not_stored_is_read_from_its_parse_tree_with_inline_flags():
    source = r"(?i)zz_not_stored_(alpha|beta)"
    assert (source, 0) not in regex_literals._stored()
    assert regex_literals.read(source) == (True, (frozenset({"zz_not_stored_"}),
                                                   frozenset({"alpha", "beta"})))
    assert not regex_literals.read("zz")[0] and regex_literals.read("zz", re.IGNORECASE)[0]


def test_a_lazy_regex_compiles_when_first_used():
    assert regex_literals.Lazy("b+").search("ab", pos=1) is not None  # as a compiled regex takes
    lazy = regex_literals.Lazy(r"(?P<word>b+)", re.IGNORECASE)
    assert not lazy.compiled_yet
    assert lazy.search("aBb").group("word") == "Bb" and lazy.groups == 1 and lazy.compiled_yet
    assert lazy.compiled is re.compile(r"(?P<word>b+)", re.IGNORECASE)
    assert [m.span() for m in lazy.finditer("b a bb")] == [(0, 1), (4, 6)]
    assert lazy.match("a") is None and lazy.match("xb", pos=1) is not None
    assert lazy == regex_literals.Lazy(r"(?P<word>b+)", re.IGNORECASE) != regex_literals.Lazy("b+")
    assert len({lazy, regex_literals.Lazy(r"(?P<word>b+)", re.IGNORECASE)}) == 1
    assert lazy.search == lazy.compiled.search  # once compiled, the regex's own method


def test_scanning_text_compiles_only_the_rules_whose_literals_it_holds():
    code = ("from cartriage.review import redact; "
            "list(redact.scan(['x = compute(1)', 'token = \"ghp_' + 'a' * 36 + '\"'])); "
            "print(sorted(kind for kind, rule in redact._token_rules() "
            "if rule._compiled is not None))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    compiled = ast.literal_eval(done.stdout.strip())
    assert "GitHub Token" in compiled and "AWS Access Key" not in compiled
    assert len(compiled) < len(redact._token_rules()) // 3


def test_a_damaged_stored_file_means_every_regex_is_parsed(tmp_path, monkeypatch):
    damaged = tmp_path / "regex_literals.json"
    damaged.write_text(json.dumps({"regexes": [["ab+c", 0, False, None]]}))
    monkeypatch.setattr(regex_literals, "STORED", damaged)
    regex_literals._stored.cache_clear()
    regex_literals.read.cache_clear()
    try:
        assert regex_literals.read("ab+c") == regex_literals.parsed("ab+c")
    finally:
        regex_literals._stored.cache_clear()
        regex_literals.read.cache_clear()
