"""Fixtures for the strategy tests: the local LLM server and isolated cache/log locations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "review")]  # llm_server.py, review_support.py

from llm_server import LLMServer  # noqa: E402


@pytest.fixture
def llm_server():
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def review_state(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTRIAGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CARTRIAGE_LOG_DB", str(tmp_path / "logs.db"))
    return tmp_path
