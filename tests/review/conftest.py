"""Fixtures for the review tests: a local LLM server and isolated cache/log locations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/llm_server.py

from llm_server import LLMServer  # noqa: E402


@pytest.fixture
def llm_server():
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def review_state(tmp_path, monkeypatch):
    """Every test gets its own response cache and SQLite log."""
    monkeypatch.setenv("CARTRIAGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CARTRIAGE_LOG_DB", str(tmp_path / "logs.db"))
    return tmp_path
