"""Settings for a model on this machine: a slow CPU model gets a timeout that fits it."""

from __future__ import annotations

import pytest

from cartriage.config import load
from cartriage.review.llm import LOCAL_TIMEOUT, Settings, is_local


@pytest.mark.parametrize("api_base, model, local", [
    ("http://127.0.0.1:8080/v1", "openai/qwen", True),
    ("http://localhost:11434", "ollama/qwen2.5-coder", True),
    (None, "ollama_chat/llama3", True),
    ("https://api.example.com/v1", "openai/gpt-4o-mini", False),
    (None, "openai/gpt-4o-mini", False),
    ("http://10.0.0.7:8000/v1", "hosted_vllm/qwen", False),
])
def test_is_local(api_base, model, local):
    assert is_local(api_base, model) is local


def test_a_local_model_gets_the_long_timeout_unless_one_is_set(tmp_path):
    local = {("llm", "model"): "openai/qwen", ("llm", "api_base"): "http://127.0.0.1:8080/v1"}
    assert Settings.from_config(load(cwd=tmp_path, env={}, overrides=local)).timeout \
        == LOCAL_TIMEOUT
    chosen = load(cwd=tmp_path, env={}, overrides={**local, ("llm", "timeout"): 30.0})
    assert Settings.from_config(chosen).timeout == 30.0
    hosted = load(cwd=tmp_path, env={}, overrides={("llm", "model"): "openai/gpt-4o-mini"})
    assert Settings.from_config(hosted).timeout == 60.0
