"""The command line: parse arguments, call one module of `cartriage.commands`, exit.

Heavy modules are imported inside each command so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Annotated

import typer

from cartriage import __version__
from cartriage.cli_values import plain_values
from cartriage.errors import EXIT_INTERNAL, EXIT_PIPE, EXIT_USAGE, CartriageError

app = typer.Typer(
    name="cartriage",
    help="Consequence-aware code-review triage: spend review compute where a miss would hurt most.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
hook_app = typer.Typer(help="Install git hooks for teams without the pre-commit framework.",
                       no_args_is_help=True)
app.add_typer(hook_app, name="hook")

_INPUT = "Input (what to review)"
_OUTPUT = "Output"
_RUN = "Run"

Rev = Annotated[str | None, typer.Argument(
    help="REV (commits after REV up to HEAD), A..B, or A...B (from the merge base).",
    show_default=False)]
Staged = Annotated[bool, typer.Option("--staged", help="Review the index against HEAD.",
                                      rich_help_panel=_INPUT)]
Worktree = Annotated[bool, typer.Option("--worktree", help="Review uncommitted changes "
                                        "(working tree against HEAD).", rich_help_panel=_INPUT)]
Diff = Annotated[str | None, typer.Option("--diff", metavar="FILE|-", help="Read a unified diff "
                                          "from FILE or stdin (works outside a repository).",
                                             rich_help_panel=_INPUT, show_default=False)]
Issue = Annotated[str | None, typer.Option("--issue", metavar="FILE|-", help="An issue or PR "
                                              "description: alone, triage before code exists.",
                                              rich_help_panel=_INPUT, show_default=False)]
Message = Annotated[str | None, typer.Option("--message", "-m", help="PR title/description "
                                                "(default: the commit messages in the range).",
                                                rich_help_panel=_INPUT, show_default=False)]
Repo = Annotated[Path, typer.Option("--repo", "-C", help="Run as if started in this folder.",
                                    rich_help_panel=_INPUT)]
Format = Annotated[str, typer.Option("--format", "-f", help="text, json, sarif, markdown or "
                                     "rdjsonl.", rich_help_panel=_OUTPUT)]
TextOrJson = Annotated[str, typer.Option("--format", "-f", help="text or json.",
                                         rich_help_panel=_OUTPUT)]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to FILE.",
                                                rich_help_panel=_OUTPUT, show_default=False)]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="Use this configuration file "
                                                    "instead of looking one up.",
                                                    rich_help_panel=_RUN, show_default=False)]
Budget = Annotated[str | None, typer.Option("--budget", help="Per-change budget: tokens "
                                               "(50000, 50k) or dollars ($0.50, 0.5usd).",
                                               rich_help_panel=_RUN, show_default=False)]
Policy = Annotated[str | None, typer.Option("--policy", help="uniform, difficulty-ranked, "
                                               "difficulty-aware, consequence-aware or "
                                               "priority-aware.", rich_help_panel=_RUN,
                                               show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only findings and errors.",
                                     rich_help_panel=_OUTPUT)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="More detail.",
                                       rich_help_panel=_OUTPUT)]
PullRequest = Annotated[str | None, typer.Option(
    "--pr", metavar="KEY", help="The pull request this run belongs to (default: from GitHub "
    "Actions or GitLab CI): the ledger keeps per-PR budgets and reuses unchanged units.",
    rich_help_panel=_RUN, show_default=False)]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks.", rich_help_panel=_RUN)]


def _version(value: bool) -> None:
    if value:
        print(f"cartriage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Consequence-aware code-review triage."""


@app.command()
def review(
    rev: Rev = None, staged: Staged = False, worktree: Worktree = False, diff: Diff = None,
    issue: Issue = None, message: Message = None, repo: Repo = Path("."), fmt: Format = "text",
    output: Output = None, config: ConfigFile = None, budget: Budget = None, policy: Policy = None,
    model: Annotated[str | None, typer.Option("--model", help="litellm model for every "
                                                 "strategy, e.g. openai/gpt-4o-mini.",
                                                 rich_help_panel=_RUN, show_default=False)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore cached LLM responses.",
                                           rich_help_panel=_RUN)] = False,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="Exit 1 on a finding at or "
                                                   "above: critical, major, minor or never.",
                                                   rich_help_panel=_OUTPUT,
                                                   show_default=False)] = None,
    require_coverage: Annotated[str | None, typer.Option(
        "--require-coverage", help="Fail when a unit of this consequence tier (low, medium, high) "
        "or above is not reviewed.", rich_help_panel=_OUTPUT, show_default=False)] = None,
    pr: PullRequest = None,
    quiet: Quiet = False, verbose: Verbose = False, debug: Debug = False,
) -> None:
    """Triage a change, then review it with an LLM within the budget."""
    _run("review", locals())


@app.command()
def plan(
    rev: Rev = None, staged: Staged = False, worktree: Worktree = False, diff: Diff = None,
    issue: Issue = None, message: Message = None, repo: Repo = Path("."), fmt: Format = "text",
    output: Output = None, config: ConfigFile = None, budget: Budget = None, policy: Policy = None,
    batch: Annotated[str | None, typer.Option("--batch", metavar="A..B", help="Plan every "
                                                 "first-parent commit in the range under one "
                                                 "global budget.", rich_help_panel=_INPUT,
                                                 show_default=False)] = None,
    quiet: Quiet = False, verbose: Verbose = False, debug: Debug = False,
) -> None:
    """Print the triage plan; never calls an LLM."""
    _run("plan", locals())


@app.command()
def explain(
    rev: Rev = None, staged: Staged = False, worktree: Worktree = False, diff: Diff = None,
    issue: Issue = None, message: Message = None, repo: Repo = Path("."),
    fmt: TextOrJson = "text", output: Output = None, config: ConfigFile = None,
    debug: Debug = False,
) -> None:
    """Show what the change touches: roles, symbols, fan-in and consequence, with evidence."""
    _run("explain", locals())


@app.command()
def score(
    data: Annotated[Path, typer.Option("--data", help="Records in the shared JSONL schema.")],
    output: Output = None, config: ConfigFile = None, debug: Debug = False,
) -> None:
    """Score records (JSONL): consequence and difficulty, one JSON line per record."""
    _run("score", locals())


@app.command()
def train(
    data: Annotated[list[Path], typer.Option(
        "--data", help="Labelled records (JSONL); repeat it for several files (changes and "
        "issues).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the trained models.")],
    repo_facts: Annotated[Path | None, typer.Option(
        "--repo-facts", help="The records' repository facts (fan-in); default: the shipped "
        "models/training-repo-facts.jsonl when present. /dev/null: none.")] = None,
    debug: Debug = False,
) -> None:
    """Train the consequence and difficulty models (needs `pip install -e .[train]`)."""
    _run("train", locals())


@app.command()
def bench(
    data: Annotated[Path, typer.Option("--data", help="Labelled records (JSONL).")],
    fmt: TextOrJson = "text", output: Output = None, config: ConfigFile = None,
    cross_repo: Annotated[bool, typer.Option(
        "--cross-repo", help="Also bench predictions by models trained without each record's "
        "repository (needs the train extra).")] = False,
    debug: Debug = False,
) -> None:
    """Compare allocation policies at matched budgets on labelled records."""
    _run("bench", locals())


@app.command()
def spend(
    repo: Repo = Path("."), config: ConfigFile = None, fmt: TextOrJson = "text",
    pr: Annotated[str | None, typer.Option("--pr", metavar="KEY", help="Show the history of "
                                              "one pull request.", show_default=False)] = None,
    debug: Debug = False,
) -> None:
    """Show spend from the ledger by month, repository, PR, strategy and model, and what is
    left of the budgets (text or json)."""
    _run("spend", locals())


@app.command()
def calibrate(
    rev: Annotated[str | None, typer.Argument(
        help="Commits to calibrate on: A..B, or REV for REV..HEAD.", show_default=False)] = None,
    data: Annotated[str | None, typer.Option(
        "--data", metavar="FILE", help="Change records (JSONL, the shared schema) instead of a "
        "git range.", rich_help_panel=_INPUT, show_default=False)] = None,
    repo: Repo = Path("."), config: ConfigFile = None,
    budget: Annotated[str | None, typer.Option(
        "--budget", help="Budget for the whole calibration: tokens (50000, 50k) or dollars "
        "($0.50).", rich_help_panel=_RUN, show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", help="litellm model to measure (else "
                                                 "the configured one).", rich_help_panel=_RUN,
                                                 show_default=False)] = None,
    units: Annotated[int, typer.Option("--units", help="Units to review (each with every "
                                       "strategy).", rich_help_panel=_RUN)] = 20,
    strategies: Annotated[str, typer.Option("--strategies", help="Strategies to measure, "
                                            "comma-separated.", rich_help_panel=_RUN)]
    = "single,multi,deliberate",
    context: Annotated[str | None, typer.Option(
        "--context", help="Context levels to measure each strategy at, comma-separated (hunks, "
        "function, callers; default: each strategy's configured level).", rich_help_panel=_RUN,
        show_default=False)] = None,
    clean: Annotated[float, typer.Option("--clean", help="Share of units left without an "
                                         "injected defect (for false findings).",
                                         rich_help_panel=_RUN)] = 0.25,
    seed: Annotated[int, typer.Option("--seed", help="Seed for choosing units and defects.",
                                      rich_help_panel=_RUN)] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Calibration file to write (default: cartriage-calibration.json at the "
        "repository root, where plan and review find it).", rich_help_panel=_OUTPUT,
        show_default=False)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore cached LLM responses.",
                                           rich_help_panel=_RUN)] = False,
    fmt: TextOrJson = "text", output: Output = None, quiet: Quiet = False, debug: Debug = False,
) -> None:
    """Measure what each strategy catches with your model: inject known defects into real
    changes, review them, and write the miss probabilities the allocator then uses."""
    _run("calibrate", locals())


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the file.")] = Path("cartriage.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    debug: Debug = False,
) -> None:
    """Write a commented cartriage.toml."""
    _run("init", locals())


@app.command("config")
def show_config(
    repo: Repo = Path("."), config: ConfigFile = None, fmt: TextOrJson = "text",
    debug: Debug = False,
) -> None:
    """Show the effective configuration and where each value came from."""
    _run("config", locals())


@hook_app.command("install")
def hook_install(
    repo: Repo = Path("."),
    hook_type: Annotated[str, typer.Option("--type", help="pre-push or pre-commit.")] = "pre-push",
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Print the plan; no LLM calls.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing hook.")] = False,
    debug: Debug = False,
) -> None:
    """Install a plain git hook that runs cartriage."""
    _run("hook", locals())


@hook_app.command("run")
def hook_run(
    remote: Annotated[str | None, typer.Argument(
        help="Remote name (git passes it to pre-push hooks).", show_default=False)] = None,
    url: Annotated[str | None, typer.Argument(
        help="Remote URL (from git).", show_default=False)] = None,
    repo: Repo = Path("."),
    hook_type: Annotated[str | None, typer.Option(
        "--type", help="pre-push: read the pushed refs from stdin; otherwise the staged "
        "changes (PRE_COMMIT_FROM_REF/TO_REF, when set, win).", show_default=False)] = None,
    plan_only: Annotated[bool, typer.Option(
        "--plan-only", help="Print the plan; no LLM calls.")] = False,
    config: ConfigFile = None, budget: Budget = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", help="Exit 1 on a finding at or above: critical, major, minor or never.",
        show_default=False)] = None,
    require_coverage: Annotated[str | None, typer.Option(
        "--require-coverage", help="Fail when a unit of this consequence tier or above is not "
        "reviewed.", show_default=False)] = None,
    quiet: Quiet = False, verbose: Verbose = False, debug: Debug = False,
) -> None:
    """Run as a git hook (used by .pre-commit-hooks.yaml and `cartriage hook install`)."""
    _run("hook_run", locals())


def _run(command: str, options: dict) -> None:
    """Run `cartriage.commands.<command>.run(**options)`; one line on stderr for fatal errors."""
    import importlib

    debug = options.pop("debug", False)
    try:
        module = importlib.import_module(f"cartriage.commands.{command}")
        code = module.run(**options)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:  # e.g. `cartriage config -f json | head -c 1`: stop quietly
        _drop_stdout()
        raise typer.Exit(EXIT_PIPE) from None
    except CartriageError as exc:
        if debug:
            raise
        print(f"cartriage: error: {exc}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("cartriage: interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: still one line, and a code of its own
        if debug:
            raise
        print(f"cartriage: internal error: {type(exc).__name__}: {exc} (run again with --debug "
              "for the traceback, and please report it)", file=sys.stderr)
        raise typer.Exit(EXIT_INTERNAL) from None
    raise typer.Exit(code or 0)


def _drop_stdout() -> None:
    """Point stdout at /dev/null so that nothing more (not even the exit flush) can fail."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _brief() -> str:
    """One line for a bare `cartriage`: the commands, and where the help is."""
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    names += [group.name for group in app.registered_groups]
    return (f"usage: cartriage COMMAND [OPTIONS]; commands: {', '.join(names)} "
            "(`cartriage --help` for more)")


def main(argv: list[str] | None = None) -> None:
    """Run the command line; usage errors are one line on stderr with exit 2."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(_brief(), file=sys.stderr)
        sys.exit(EXIT_USAGE)
    errors = _click_errors()
    try:
        command = _command(args[0])
        plain_values(command)  # no pydantic adapters for our str and Path options
        code = command.main(args=args, prog_name="cartriage", standalone_mode=False)
    except errors.NoArgsIsHelpError as exc:  # e.g. bare `cartriage hook`
        name = exc.ctx.command_path if exc.ctx else "cartriage"
        print(f"usage: {name} COMMAND [OPTIONS] (`{name} --help` for more)", file=sys.stderr)
        code = EXIT_USAGE
    except errors.UsageError as exc:  # unknown option, missing value, bad choice ...
        name = exc.ctx.command_path if exc.ctx else "cartriage"
        message = " ".join(exc.format_message().split())
        print(f"cartriage: error: {message} (`{name} --help` for usage)", file=sys.stderr)
        code = EXIT_USAGE
    except errors.Abort:  # Ctrl-C while click was prompting or parsing
        print("cartriage: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # e.g. `cartriage --help | head -c 1`: stop quietly
        _drop_stdout()
        code = EXIT_PIPE
    sys.exit(code or 0)


def _command(first: str):
    """The click command of the app, with only the command (or group) named `first` when it
    names one: building every command's options costs about 30 ms, one's about 3. Its help,
    usage, errors and run are the same; anything else (`--help`, `--version`, a misspelt
    name) gets every command."""
    commands = [c for c in app.registered_commands
                if (c.name or typer.main.get_command_name(c.callback.__name__)) == first]
    groups = [g for g in app.registered_groups if g.name == first]
    if not commands and not groups:
        return typer.main.get_command(app)
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = commands, groups
    return typer.main.get_command(lean)


def _click_errors():
    """click's exceptions: typer >= 0.24 vendors click as `typer._click`."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer with click installed
        from click import exceptions
    return exceptions
