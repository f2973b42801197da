"""Literals read from a regex's parse tree: every match holds one of each set."""

from __future__ import annotations

import re
import string
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartriage import regex_literals
from cartriage.analysis import roles

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
    assert regex_literals.required(re.compile(r"(?i)\b(Bleach|nh3)\w*x{2,}")) == (
        frozenset({"bleach", "nh3"}), frozenset({"x"}))
    assert regex_literals.required(re.compile(r"a?b*(c|\d)")) == ()
    assert regex_literals.required(re.compile(r"(?i:pass)word")) == (frozenset({"word"}),)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATTERNS), st.data())
def test_every_match_of_a_role_pattern_holds_a_literal_of_each_set(pattern, data):
    text = data.draw(st.from_regex(pattern))
    match = pattern.search(text)
    assert match is not None
    haystack = regex_literals.fold(text) if pattern.flags & re.IGNORECASE else text
    for literals in regex_literals.required(pattern):
        assert any(literal in haystack for literal in literals), (pattern.pattern, text)
