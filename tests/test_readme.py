"""The README documents what the code does: config keys, commands, set-up, test command."""

from __future__ import annotations

import re
from pathlib import Path

from cartriage import config as configuration
from cartriage.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_configuration_key_is_documented():
    for section, keys in configuration.SCHEMA.items():
        for key in keys:
            assert f"`{section}.{key}`" in README, f"{section}.{key} missing from the README"
    for key in configuration._STRATEGY_KEYS:
        assert f"`strategies.<name>.{key}`" in README


def test_every_command_is_documented():
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    for name in names:
        assert f"`cartriage {name}" in README, name


def test_two_set_up_commands_come_first_and_ci_runs_the_test_command():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[0] == "pip install -e . -c constraints.txt && cartriage review HEAD~1"
    marker = README.index("<!-- test-command -->")
    assert README[marker:].split("\n")[2] == blocks[1]
    assert "pytest" in blocks[1] and "ruff check" in blocks[1]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in ci


def test_exit_codes_are_documented():
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 70 |"):
        assert code in README
