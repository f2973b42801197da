"""Generated command lines, in-process: no internal error, usage errors in one line."""

from __future__ import annotations

import pytest
from fuzz_inputs import CLI_ENV, argvs, cli_folder, run_cli
from hypothesis import HealthCheck, given, settings


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    for key, value in CLI_ENV.items():
        patch.setenv(key, value)
    patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    patch.setenv("CARTRIAGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield cli_folder(tmp_path_factory.mktemp("cli"))
    patch.undo()


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(argvs)
def test_no_generated_command_line_is_an_internal_error(folder, argv):
    assert run_cli(argv, folder).problem() == "", argv


@pytest.mark.parametrize("argv, code, first", [
    ([], 2, "usage: cartriage COMMAND [OPTIONS]; commands: review, plan"),
    (["plan", "--bogus"], 2, "cartriage: error: No such option: --bogus"),
    (["review", "--diff", "patch.diff", "--budget", "1" * 400], 2, "cartriage: error: --budget"),
    (["review", "--diff", "patch.diff", "--model", "3.5"], 2,
     "cartriage: error: command line: 'llm.model' = '3.5'"),
    (["hook"], 2, "usage: cartriage hook COMMAND"),
])
def test_usage_errors_are_one_line(folder, argv, code, first):
    outcome = run_cli(argv, folder)
    assert outcome.code == code and outcome.stderr.startswith(first), outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1


def test_a_line_of_200000_brackets_is_planned_within_the_limit(folder):
    (folder / "brackets.diff").write_bytes(
        b"diff --git a/app/deep.py b/app/deep.py\n--- a/app/deep.py\n+++ b/app/deep.py\n"
        b"@@ -0,0 +1 @@\n+" + b"(" * 200_000 + b"\n")
    outcome = run_cli(["plan", "--diff", "brackets.diff", "--format", "json"], folder)
    assert outcome.problem() == "" and outcome.code == 0 and outcome.seconds < 10
