"""Fixtures for the report tests (results built in report_support)."""

from __future__ import annotations

import pytest
from report_support import make_result


@pytest.fixture
def result():
    return make_result()


@pytest.fixture
def plan_result():
    return make_result(review=False)
