"""plain_values: str, Path and flag values parse as typer parses them, without pydantic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import typer

from cartriage.cli_values import plain_values

app = typer.Typer(add_completion=False)
SEEN: dict = {}


@app.command()
def run(
    name: Annotated[str | None, typer.Argument()] = None,
    repo: Annotated[Path, typer.Option("--repo")] = Path("."),
    output: Annotated[Path | None, typer.Option("--output")] = None,
    label: Annotated[str, typer.Option("--label")] = "text",
    count: Annotated[int, typer.Option("--count", min=1)] = 1,
    folder: Annotated[Path | None, typer.Option("--folder", file_okay=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet")] = False,
) -> None:
    """A command with every kind of parameter cartriage uses."""
    SEEN.update(locals())


@app.command()
def other() -> None:
    """A second command, so that `run` is a subcommand."""


def parse(args: list[str], plain: bool):
    """The values typer passes to `run`, or the usage error's message."""
    command = typer.main.get_command(app)
    if plain:
        plain_values(command)
    SEEN.clear()
    try:
        command.main(args=["run", *args], prog_name="prog", standalone_mode=False)
    except typer._click.exceptions.UsageError as exc:
        return f"error: {exc.format_message()}"
    return dict(SEEN)


@pytest.mark.parametrize("args", [
    [], ["HEAD~3"], ["--repo", "sub"], ["--output", "out.txt", "--label", "json"],
    ["--quiet", "--count", "4"], ["--count", "0"], ["--count", "x"], ["--folder", "afile"],
    ["--folder", "."], ["--label"],
])
def test_values_and_errors_are_typers(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    assert parse(args, plain=True) == parse(args, plain=False)


def test_paths_are_paths_and_still_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    assert parse(["--output", "o"], plain=True)["output"] == Path("o")
    assert "is a file" in parse(["--folder", "afile"], plain=True)


PLAN = """
import sys
from cartriage.cli import main
try:
    main(["plan", "--diff", sys.argv[1], "--format", "json"])
except SystemExit:
    pass
print("pydantic" in sys.modules)
"""


def test_a_plan_does_not_import_pydantic(tmp_path):
    diff = tmp_path / "change.diff"
    diff.write_text("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", PLAN, str(diff)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr
