"""Hypothesis strategies for hostile input: diffs, configuration files and command lines, and
in-process runners that say what happened (exit code, stderr, seconds). Shared by the fuzz tests
(a few thousand cases) and `benchmarks/bench_fuzz.py` (many more).

The promise checked: no internal error (exit 70, or an exception other than cartriage's own),
no input over 10 s of CPU (not wall time: on a shared machine that also measures the
neighbours; the benchmark reports both), and an error is one line on stderr with a documented
exit code.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from cartriage import cli, strategies
from cartriage.config import _STRATEGY_KEYS, SCHEMA, load
from cartriage.errors import EXIT_INTERNAL, CartriageError
from cartriage.intake.diff import parse_diff

SECONDS = 10.0
DOCUMENTED = {0, 1, 2, 3, 4, 130}

# -- diffs --------------------------------------------------------------------------------------

_NAME = st.text(st.sampled_from("ab/._- \"\\\n\t0178é\x00\x7f"), min_size=0, max_size=12)
_OCTAL = st.integers(0, 0o777).map(lambda n: "\\" + format(n, "o"))
_QUOTED = st.lists(st.one_of(_NAME, _OCTAL, st.just("\\q"), st.just("\\")), max_size=4).map(
    lambda parts: '"' + "".join(parts) + st_choice_quote(parts))


def st_choice_quote(parts: list[str]) -> str:
    return '"' if len(parts) % 2 == 0 else ""  # sometimes no closing quote


_PATH = st.one_of(_NAME, _QUOTED, st.just("/dev/null"))
_NUMBER = st.one_of(st.integers(-3, 40), st.just(10**30), st.just("x"), st.just(""))
_HEADER = st.one_of(
    st.builds(lambda a, b: f"diff --git {a} {b}", _PATH, _PATH),
    st.builds(lambda a: f"diff --git {a}", _PATH),
    st.just("diff --git"), st.just('diff --git "'), st.just('diff --git a/x "'),
    st.builds(lambda a: f"--- {a}", _PATH), st.builds(lambda a: f"+++ {a}", _PATH),
    st.builds(lambda a, b, c, d: f"@@ -{a},{b} +{c},{d} @@", _NUMBER, _NUMBER, _NUMBER, _NUMBER),
    st.builds(lambda a, b: f"@@ -{a} +{b} @@ def f():", _NUMBER, _NUMBER),
    st.sampled_from(["new file mode 100644", "deleted file mode 100755", "old mode 100644",
                     "new mode 160000", "similarity index 90%", "rename from a", "rename to b",
                     "copy from x", "index 0000000..abcdef1 160000", "Binary files a and b differ",
                     "GIT binary patch", "literal 0", "\\ No newline at end of file"]),
)
_BODY = st.builds(lambda kind, text: kind + text, st.sampled_from("+- \\"),
                  st.text(max_size=30))
_LINE = st.one_of(_HEADER, _BODY, st.text(max_size=20))
_VALID_FILE = st.builds(
    lambda path, lines: (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
                         f"@@ -1,0 +1,{len(lines)} @@\n" + "".join(f"+{x}\n" for x in lines)),
    st.sampled_from(["app/x.py", "web/a.ts", "lib/b.go", "src/c.rs", "README.md"]),
    st.lists(st.text(st.characters(blacklist_characters="\n\r"), max_size=40), min_size=1,
             max_size=5))
diffs = st.one_of(
    st.lists(_LINE, max_size=25).map(
        lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    st.lists(st.one_of(_VALID_FILE, _LINE.map(lambda x: x + "\n")), max_size=6).map(
        lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
)

# -- configuration files ------------------------------------------------------------------------

_VALUES = st.one_of(
    st.integers(-5, 10**6), st.just(10**400), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["nan", "inf", "-inf", "1e400", '"3.5"', '"openai/x"', "true", "[]",
                     '["a", 1]', "{}", '"a\\u0000b"', '"x"' * 3, "5", '""']),
    st.text(max_size=10).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'),
)
_KEYS = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys] + \
    [f"strategies.{n}.{k}" for n in strategies.names() for k in _STRATEGY_KEYS] + \
    ["budget.tokenz", "nope.key", "rules", "strategies.bogus.samples"]


def _toml_value(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    return str(value)


def _config_text(entries: list[tuple[str, object]]) -> str:
    lines = []
    for dotted, value in entries:
        *table, key = dotted.split(".")
        if table:
            lines.append(f"[{'.'.join(table)}]")
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


configs = st.one_of(
    st.lists(st.tuples(st.sampled_from(_KEYS), _VALUES), max_size=6).map(_config_text),
    st.integers(1, 600).map(lambda depth: "a = " + "[" * depth + "]" * depth + "\n"),
    st.integers(1, 600).map(lambda depth: "x = " + "{a = " * depth + "1" + "}" * depth),
    st.sampled_from(["[[rules]]\npath = 5\n", "rules = 5\n", "[rules]\n", "[[rules]]\n",
                     "[[rules]]\npath = '**'\nconsequence = 'extreme'\n", "[strategies]\nmulti=1\n",
                     "[budget\n", "= 1\n", "\ufeff[budget]\ntokens = 1\n"]),
)
config_bytes = st.one_of(configs.map(str.encode), st.binary(max_size=200),
                         configs.map(lambda t: t.encode() + b"\xff\xfe"))
config_names = st.sampled_from(["cartriage.toml", "pyproject.toml"])

# -- command lines ------------------------------------------------------------------------------

_WORDS = st.sampled_from([
    "plan", "review", "explain", "config", "init", "score", "hook", "run", "--diff", "patch.diff",
    "--format", "json", "sarif", "markdown", "rdjsonl", "text", "xml", "--budget", "50k", "$0.5",
    "1" * 400, "1e400", "nan", "-5", "0", "$", "--policy", "uniform", "bogus", "--model",
    "3.5", "openai/test-model", "--fail-on", "critical", "never", "--require-coverage", "high",
    "--config", "cartriage.toml", "missing.toml", "-C", ".", "/nonexistent", "--quiet",
    "--verbose", "--issue", "issue.txt", "-m", "message", "--output", "out.txt", "--no-cache",
    "--staged", "--worktree", "HEAD", "HEAD~1..HEAD", "--data", "records.jsonl", "--force",
    "--type", "pre-push", "--plan-only", "--batch", "A..B", "--", "-", "--help", "--version",
])
_OPTION = st.one_of(
    st.tuples(st.just("--budget"), st.one_of(_WORDS, st.sampled_from(
        ["1" * 400, "$1e400", "50k", "$0.01", "0", "1.5m", "nan", "inf", "$-1", "9" * 30 + "k"]))),
    st.tuples(st.sampled_from(["--format", "--policy", "--fail-on", "--require-coverage",
                               "--model", "--config", "--issue", "-m", "-C"]), _WORDS),
    st.tuples(st.sampled_from(["--quiet", "--verbose", "--no-cache"])),
)
_STRUCTURED = st.builds(
    lambda command, source, options: [command, *source, *[w for o in options for w in o]],
    st.sampled_from(["plan", "review", "explain", "config"]),
    st.sampled_from([("--diff", "patch.diff"), ("--diff", "-"), ("--issue", "issue.txt"), ()]),
    st.lists(_OPTION, max_size=4))
argvs = st.one_of(st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=8), _STRUCTURED)


@dataclass
class Outcome:
    code: int | None  # exit code, or None for an exception that escaped
    stderr: str
    seconds: float  # CPU seconds of the process (all threads)
    error: str = ""  # the escaped exception, for an in-process call

    def problem(self) -> str:
        """What breaks the promise, or ""."""
        if self.error:
            return f"escaped: {self.error}"
        if self.code == EXIT_INTERNAL:
            return f"internal error: {self.stderr.strip()[:200]}"
        if self.code not in DOCUMENTED:
            return f"undocumented exit code {self.code}"
        if self.code in (2, 3) and len(self.stderr.strip().splitlines()) != 1:
            return f"error of {len(self.stderr.strip().splitlines())} lines: {self.stderr[:200]}"
        if self.seconds > SECONDS:
            return f"took {self.seconds:.1f} s of CPU"
        return ""


def check_diff(data: bytes) -> Outcome:
    started = time.process_time()
    try:
        parse_diff(data)
        code, message = 0, ""
    except CartriageError as exc:
        code, message = exc.exit_code, f"cartriage: error: {exc}"
    except Exception as exc:  # noqa: BLE001 - that is what the fuzz looks for
        return Outcome(None, "", time.process_time() - started, f"{type(exc).__name__}: {exc}")
    return Outcome(code, message, time.process_time() - started)


def check_config(folder: Path, name: str, data: bytes) -> Outcome:
    (folder / name).write_bytes(data)
    started = time.process_time()
    try:
        load(cwd=folder, env={"HOME": str(folder)})
        code, message = 0, ""
    except CartriageError as exc:
        code, message = exc.exit_code, f"cartriage: error: {exc}"
    except Exception as exc:  # noqa: BLE001
        return Outcome(None, "", time.process_time() - started, f"{type(exc).__name__}: {exc}")
    finally:
        (folder / name).unlink()
    return Outcome(code, message, time.process_time() - started)


def run_cli(argv: list[str], folder: Path, stdin: bytes = b"") -> Outcome:
    """`cartriage argv` in-process, in `folder`, with stdin; never talks to a network."""
    stderr, stdout = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    started = time.process_time()
    code: int | None = None
    try:
        os.chdir(folder)
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout), \
                _stdin(stdin):
            try:
                cli.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception as exc:  # noqa: BLE001
                return Outcome(None, stderr.getvalue(), time.process_time() - started,
                               f"{type(exc).__name__}: {exc}")
    finally:
        os.chdir(previous)
    return Outcome(code, stderr.getvalue(), time.process_time() - started)


@contextlib.contextmanager
def _stdin(data: bytes):
    import sys

    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    try:
        yield
    finally:
        sys.stdin = saved


CLI_ENV = {  # a closed local port: a review that gets this far fails fast, offline
    "CARTRIAGE_LLM__API_BASE": "http://127.0.0.1:9/v1", "CARTRIAGE_LLM__RETRIES": "0",
    "CARTRIAGE_LLM__TIMEOUT": "2", "OPENAI_API_KEY": "", "CARTRIAGE_LLM__CACHE": "false",
    "CARTRIAGE_LLM__LOG": "false",
}


def cli_folder(folder: Path) -> Path:
    """A folder with the files the generated command lines name."""
    (folder / "patch.diff").write_bytes(
        b"diff --git a/app/x.py b/app/x.py\n--- a/app/x.py\n+++ b/app/x.py\n"
        b"@@ -1,0 +1,2 @@\n+def f(x):\n+    return 1 / x\n")
    (folder / "issue.txt").write_text("Fix the login bug\n")
    (folder / "cartriage.toml").write_text("[budget]\ntokens = 5000\n")
    (folder / "records.jsonl").write_text('{"id": "x"}\nnot json\n')
    return folder
