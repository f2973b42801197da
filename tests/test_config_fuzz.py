"""Generated configuration files: every one loads or is refused with a one-line ConfigError."""

from __future__ import annotations

import pytest
from fuzz_inputs import check_config, config_bytes, config_names
from hypothesis import HealthCheck, given, settings

from cartriage.config import load
from cartriage.errors import ConfigError


@settings(max_examples=1200, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(config_names, config_bytes)
def test_no_generated_config_breaks_loading(tmp_path_factory, name, data):
    folder = tmp_path_factory.mktemp("config", numbered=True)
    assert check_config(folder, name, data).problem() == ""


@pytest.mark.parametrize("text, message", [
    (b"[budget]\ntokens = \xff\n", "not UTF-8"),
    (b"a = " + b"[" * 600 + b"]" * 600, "invalid TOML"),
    (b"[weights]\nhigh = nan\n", "finite"),
    (b"[budget]\nusd = inf\n", "finite"),
    (b"[llm]\ntimeout = inf\n", "finite"),
    (b"[budget]\ntokens = " + b"9" * 400 + b"\n", "at most"),
    (b"[strategies.multi]\nsamples = 100000000\n", "at most 50"),
])
def test_the_classes_the_issue_found(tmp_path, text, message):
    (tmp_path / "cartriage.toml").write_bytes(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load(cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert "cartriage.toml" in str(caught.value) and "\n" not in str(caught.value)


def test_a_pyproject_whose_tool_is_not_a_table_is_no_config(tmp_path):
    (tmp_path / "pyproject.toml").write_text("tool = 5\n")
    assert load(cwd=tmp_path, env={"HOME": str(tmp_path)}).files == ()
