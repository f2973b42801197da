"""The README (for users, at most 400 lines) and docs/ document what the code does: config keys,
commands, set-up, test command, exit codes, and the links between them."""

from __future__ import annotations

import re
from pathlib import Path

from cartriage import config as configuration
from cartriage.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
# "How it works" sections, each with the docs file that holds its detail.
DETAILED = {"Scoring models": "docs/scoring.md", "Security and the budget cap": "docs/security.md",
            "Speed": "docs/speed.md", "Spend ledger": "docs/ledger.md"}


def test_every_configuration_key_is_documented():
    for section, keys in configuration.SCHEMA.items():
        for key in keys:
            assert f"`{section}.{key}`" in CONFIGURATION, f"{section}.{key} missing from the docs"
    for key in configuration._STRATEGY_KEYS:
        assert f"`strategies.<name>.{key}`" in CONFIGURATION
    assert "(docs/configuration.md)" in README


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


def test_the_readme_is_short_links_docs_that_exist_and_keeps_its_sections():
    assert len(README.splitlines()) <= 400
    for link in re.findall(r"\]\((docs/[\w.-]+\.md)\)", README):
        assert (ROOT / link).is_file(), link
    for heading, link in DETAILED.items():
        section = README.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
        assert f"({link})" in section, heading
    for document in (ROOT / "docs").glob("*.md"):
        assert "(../README.md)" in document.read_text(encoding="utf-8"), document.name
