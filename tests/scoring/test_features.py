from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.scoring import features
from cartriage.scoring.records import to_change
from tests.scoring.helpers import record

CONFIG = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": "/nonexistent"})


def _change():
    rec = record("a1", "Fix token check in login", {
        "app/auth/session.py": ["def check(token):", "    if token is None:", "        return 1"],
        "docs/guide.md": ["Some words"],
    })
    change = to_change(rec, CONFIG)
    return change, analyze(change, CONFIG)


def test_same_change_gives_identical_vectors_and_names():
    first = [features.consequence_features(*_s) for _s in _scoped()]
    second = [features.consequence_features(*_s) for _s in _scoped()]
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.vector, b.vector)
        assert a.names == b.names
        assert a.vector.dtype == np.float32
        assert a.vector.shape == (features.dimension("consequence"),)


def _scoped():
    change, analysis = _change()
    return [(features.read_text(change), scope) for _, scope in features.scopes(change, analysis)]


def test_units_differ_by_their_own_files_and_share_the_title():
    (text, auth), (_, docs) = _scoped()
    a = features.consequence_features(text, auth)
    d = features.consequence_features(text, docs)
    assert not np.array_equal(a.vector, d.vector)
    assert any("p:auth" in n for n in a.names.values())
    assert not any("p:auth" in n for n in d.names.values())
    assert any("w:token" in n for n in d.names.values())


def test_issue_only_uses_text_alone():
    change, _ = _change()
    text_only = features.consequence_features(features.read_text(replace(change, files=())), None)
    names = " ".join(text_only.names.values())
    assert "w:login" in names
    assert "p:" not in names and "id:" not in names and "log_added" not in names


def test_difficulty_features_measure_size_spread_and_nesting():
    change, analysis = _change()
    whole = features.whole_change(change, analysis)
    f = features.difficulty_features(features.read_text(change), whole)
    numeric = features.DIFFICULTY_NUMERIC
    values = dict(zip(numeric, f.vector[: len(numeric)], strict=True))
    assert values["log_files"] > 0 and values["file_entropy"] > 0
    assert values["log_control_flow"] > 0 and values["max_indent"] > 0
    assert values["fix_message"] == 1.0


def test_hashing_is_stable_across_processes():
    # crc32, not Python's salted hash(): the bucket of a token is fixed forever.
    f = features._assemble(("x",), {"x": 0.0}, {"w": ["migration"]})
    (index,) = [i for i in f.names]
    assert index == 1 + 1281 and f.vector[index] == 1.0


def test_minor_scope_is_tests_or_docs_only():
    auth, docs = [scope for _, scope in _scoped()]
    assert features.minor(docs) and not features.minor(auth)


def test_rubric_words_read_the_text_and_the_title_apart():
    change, _ = _change()
    found = dict(zip(features.RUBRIC_NAMES, features.rubric_words(change), strict=True))
    assert found["rubric word:auth"] == found["rubric word in title:auth"] == 1.0
    assert found["rubric word:migration"] == 0.0
    described = replace(change, title="Update the author list",
                        description="Fixes a typo in the docs; no data loss.")
    found = dict(zip(features.RUBRIC_NAMES, features.rubric_words(described), strict=True))
    assert found["rubric word:auth"] == 0.0  # "author" is not auth
    assert found["rubric word:typo"] == found["rubric word:docs"] == 1.0
    assert found["rubric word:data loss"] == 1.0 and found["rubric word in title:typo"] == 0.0


def test_numeric_only_is_the_numeric_part_of_the_full_vector():
    for text, scope in [*_scoped(), (_scoped()[0][0], None)]:
        full = features.consequence_features(text, scope)
        numeric = features.consequence_features(text, scope, numeric_only=True)
        width = features.numeric_dimension("consequence")
        assert np.array_equal(numeric.vector, full.vector[:width])
        assert numeric.names == {j: n for j, n in full.names.items() if j < width}


def test_control_flow_is_counted_line_by_line():
    # A conditional expression's `? :` counts only when both are on one changed line.
    lines = ["x = a ? b : c", "y = ready ?", "  z : w", "if (a && b || c) {", "}"]
    change = to_change(record("c1", "Refactor", {"src/app.js": lines}), CONFIG)
    f = features.difficulty_features(features.read_text(change),
                                     features.whole_change(change, analyze(change, CONFIG)))
    values = dict(zip(features.DIFFICULTY_NUMERIC, f.vector, strict=False))
    assert np.isclose(values["log_control_flow"], np.log1p(4))  # ?:, if, &&, ||
    assert np.isclose(values["control_flow_density"], 4 / 5)


def test_similar_issues_are_the_most_similar_pool_rows_weighted_by_similarity():
    pool = np.eye(4, dtype=np.float32)[:, :3]  # rows: x, y, z, zero
    tiers = np.array([0, 1, 2, 2])
    text = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)
    assert np.allclose(features.neighbour_shares(text, pool, tiers, 2), [[0.8 / 1.4, 0.6 / 1.4, 0]])
    # pool row x left out (in training: the text's own repository); y, then z at similarity 0
    left_out = np.array([[True, False, False, False]])
    shares = features.neighbour_shares(text, pool, tiers, 2, left_out)
    assert np.allclose(shares, [[0, 1, 0]])


def test_a_unit_in_its_change_is_pulled_toward_the_change_by_the_share():
    change, analysis = _change()
    text = features.read_text(change)
    (_, auth), (_, docs) = features.scopes(change, analysis)
    whole = features.as_context(features.consequence_features(
        text, features.whole_change(change, analysis), True))
    unit = features.consequence_features(text, docs, True)
    half = features.with_change(unit, whole, 0.5)
    assert np.allclose(half.vector, (unit.vector + whole.vector) / 2)
    assert half.vector.dtype == np.float32
    assert np.array_equal(features.with_change(unit, whole, 0.0).vector, unit.vector)
    assert np.array_equal(features.with_change(unit, whole, 1.0).vector, whole.vector)
    # the docs unit keeps its own names; the security file's entries come from the change, marked
    assert {j: n for j, n in half.names.items() if j in unit.names} == unit.names
    assert "change files_with_role:security" in half.names.values()


_PIECES = ["if", "else", "elif", "for", "fore", "go", "ago", "try", "_try", "tryé", "élock",
           "&&", "&", "|", "||", "?", ":", " ", "\t", "\n", "x", "1", "(", "a ? b : c", "é"]


@pytest.mark.parametrize("text", [
    "", "if x && y || z:", "for (;;) {} else", "elif_ifelse if", "é if é", "try:tryé",
    "&&&& |||", "x ? if : else", "a ? b\nfor c : d", "  go defer lock until unless",
])
def test_control_count_equals_the_control_regex(text):
    assert features.control_count(text) == len(features.CONTROL.findall(text))


@given(st.lists(st.sampled_from(_PIECES), max_size=16).map("".join))
def test_control_count_equals_the_control_regex_on_mixes(text):
    assert features.control_count(text) == len(features.CONTROL.findall(text))
