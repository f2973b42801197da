"""The allocation contract: Assignments built a field at a time equal those built one by one."""

import pickle
from dataclasses import FrozenInstanceError, fields

import pytest

from cartriage.allocation.plan import Assignment, assignments

ROWS = [
    ("a.py#f", "single", 1, 1200, None, 0.01, 0.2, "single: saves 0.19 ...", None, 0.05, 1.6e-4,
     900, "hunks"),
    ("b.py#g", "skip", 0, 0, 0.0, 0.3, 0.3, "skipped: ...", "rule", None, None, 700, "function"),
]


def test_assignments_equal_the_dataclass_built_one_by_one():
    columns = [list(column) for column in zip(*ROWS, strict=True)]
    made = assignments(columns)
    expected = [Assignment(*row) for row in ROWS]
    assert made == expected
    assert [repr(a) for a in made] == [repr(a) for a in expected]
    assert pickle.loads(pickle.dumps(made)) == expected
    with pytest.raises(FrozenInstanceError):
        made[0].reason = "changed"


def test_assignments_refuse_columns_of_different_lengths():
    columns = [list(column) for column in zip(*ROWS, strict=True)]
    columns[7] = columns[7][:1]
    with pytest.raises(ValueError, match="1 values for 2 assignments"):
        assignments(columns)
    with pytest.raises(ValueError):
        assignments(columns[:len(fields(Assignment)) - 1])
