"""jsontext.dumps writes what json.dumps(indent=2, ensure_ascii=False) writes."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartriage.report import jsontext

_PLAIN = (st.none() | st.booleans() | st.integers() | st.floats()
          | st.floats(allow_nan=False).map(lambda f: f * 1e300)
          | st.text(st.characters(codec="utf-8") | st.sampled_from("\"\\\n\t\x00\x1f\x7f\u2028é"),
                    max_size=8))
_KEYS = st.text(max_size=5) | st.integers() | st.floats() | st.booleans() | st.none()
_VALUES = st.recursive(_PLAIN, lambda inner: st.lists(inner, max_size=4)
                       | st.lists(inner, max_size=3).map(tuple)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=4)
                       | st.dictionaries(_KEYS, inner, max_size=3), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_dumps_writes_what_json_dumps_writes(value):
    assert jsontext.dumps(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_a_report_shaped_document_and_the_unusual_cases():
    document = {"units": [{"id": "a.py", "probabilities": {"low": 0.1, "high": 1e-05},
                           "top": [["fan_in", 0.25], ["role:auth", -1.5e16]], "notes": []}],
                "empty": {}, "nested": [[[]], [{}], [[1, [2]]]], "nan": [math.nan, -math.inf],
                "keys": {1: [1], 2.5: {"x": None}, False: [], None: [{}]}, "text": "ü\u2028\"x\""}
    assert jsontext.dumps(document) == json.dumps(document, indent=2, ensure_ascii=False)
    looped: list = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular"):
        jsontext.dumps({"a": looped})
    for wrong in ({"a": {1, 2}}, [object()], {(1, 2): [3]}):
        with pytest.raises(TypeError):
            jsontext.dumps(wrong)


def test_a_long_plain_list_is_written_whole():
    """Python's C encoder hands a long container back in several chunks (3.10/3.11: more than
    about 50,000 items), as a change ignoring a vendored folder of 60,000 files has."""
    doc = {"change": {"ignored": [f"vendor/pkg/file{i}.js" for i in range(60000)], "files": 1},
           "paths": [f"p{i}" for i in range(60000)]}
    assert jsontext.dumps(doc) == json.dumps(doc, indent=2, ensure_ascii=False)
    assert jsontext.dumps(doc["paths"]) == json.dumps(doc["paths"], indent=2)
