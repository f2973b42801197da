"""Configuration: one schema, validated when loaded, with the source of every value.

Precedence, lowest first: built-in defaults, the user file (`~/.config/cartriage/config.toml`),
the project file (`cartriage.toml`, else `[tool.cartriage]` in `pyproject.toml`, looked up from the
working directory to the repository root), environment variables `CARTRIAGE_SECTION__KEY`, and
command-line flags.

The schema is hand-written rather than a pydantic model because every value must carry where it
came from (`cartriage config`) and unknown keys must be answered with the closest valid key.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cartriage import strategies
from cartriage.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TIERS = ("low", "medium", "high")
FAIL_ON = ("critical", "major", "minor", "never")
# [budget] keys kept by the spend ledger across runs and runners (any of them turns it on)
LEDGER_CAPS = ("per_pr_tokens", "per_pr_usd", "monthly_tokens", "monthly_usd")
LARGEST = 10**12  # no number in the configuration may be larger (or infinite, or NaN)
OPTIONAL = object()  # default for keys that are unset unless configured
UNSET = object()  # an override that clears a value (e.g. `--budget $1` lifts the token cap)


@dataclass(frozen=True)
class Key:
    """One configuration key: its type ("int", "float", "str", "bool", "list"), default and doc."""

    type: str
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float = LARGEST


DEFAULT_IGNORE = [
    "**/*.lock", "**/package-lock.json", "**/yarn.lock", "**/pnpm-lock.yaml", "**/poetry.lock",
    "**/Cargo.lock", "**/go.sum", "**/composer.lock", "**/Gemfile.lock", "**/*.min.js",
    "**/*.min.css", "**/*.map", "vendor/**", "**/vendor/**", "**/node_modules/**",
    "third_party/**", "**/*.pb.go", "**/*_pb2.py", "**/*.generated.*", "**/dist/**",
]

_STRATEGY_KEYS = {
    "model": Key("str", OPTIONAL, "litellm model string for this strategy (else [llm] model)"),
    "models": Key("list", [], "different models to sample from, in turn (multi, deliberate)"),
    "samples": Key("int", 1, "independent samples per unit", minimum=1, maximum=50),
    "temperature": Key("float", 0.0, "sampling temperature", minimum=0),
    "judge_model": Key("str", OPTIONAL, "model for the judge pass (deliberate; else model)"),
    "judge_accuracy": Key(
        "float", 0.9, "modelled chance the judge keeps a correct candidate (deliberate)", minimum=0
    ),
    "context": Key("str", "hunks", "what each call sees: the changed hunks; plus the enclosing "
                   "function or class of each changed line; plus the definitions the change "
                   "calls and the call sites of signatures it changes",
                   choices=strategies.CONTEXT_LEVELS),
    "max_output_tokens": Key("int", 1500, "completion tokens allowed per call", minimum=1),
    "output_tokens": Key(
        "int", 500, "completion tokens a call is expected to use (for the plan's estimates)",
        minimum=0
    ),
    "recall": Key(
        "float", 0.5, "modelled chance one pass catches a defect of medium difficulty", minimum=0
    ),
    "difficulty_slope": Key(
        "float", 0.35, "how much that chance falls from easy to hard defects", minimum=0
    ),
    "sample_correlation": Key(
        "float", 0.8, "how alike repeated samples of one model are (0 independent, 1 identical)",
        minimum=0
    ),
    "model_correlation": Key(
        "float", 0.5, "how alike samples from different models are (0 independent, 1 identical)",
        minimum=0
    ),
}

SCHEMA: dict[str, dict[str, Key]] = {
    "budget": {
        "tokens": Key("int", 100_000, "per-change budget in tokens (prompt + completion)",
                      minimum=0),
        "usd": Key("float", OPTIONAL, "per-change budget in US dollars (needs known model prices)",
                   minimum=0),
        "per_pr_tokens": Key("int", OPTIONAL, "tokens one pull request may spend over all its "
                             "runs (needs a ledger and a PR: --pr or CI)", minimum=0),
        "per_pr_usd": Key("float", OPTIONAL, "US dollars one pull request may spend over all "
                          "its runs", minimum=0),
        "monthly_tokens": Key("int", OPTIONAL, "tokens every runner sharing the ledger may spend "
                              "in a calendar month (UTC)", minimum=0),
        "monthly_usd": Key("float", OPTIONAL, "US dollars every runner sharing the ledger may "
                           "spend in a calendar month (UTC)", minimum=0),
        "min_gain_per_1k_tokens": Key(
            "float", 0.02, "buy a deeper strategy only if 1,000 more tokens cut the expected "
            "cost-weighted loss by at least this (0 spends the whole budget)", minimum=0),
    },
    "weights": {
        "low": Key("float", 1.0, "cost of a missed error in a low-consequence unit", minimum=0),
        "medium": Key("float", 5.0, "cost of a missed error in a medium-consequence unit",
                      minimum=0),
        "high": Key("float", 25.0, "cost of a missed error in a high-consequence unit", minimum=0),
    },
    "llm": {
        "model": Key("str", OPTIONAL, "default litellm model, e.g. openai/gpt-4o-mini"),
        "api_base": Key("str", OPTIONAL, "base URL of the endpoint (ollama, vLLM, any proxy)"),
        "api_key_env": Key("str", OPTIONAL, "environment variable that holds the API key"),
        "timeout": Key("float", 60.0, "seconds before one call is abandoned (unset: 600 for a "
                       "model on this machine: loopback api_base, ollama, lm_studio, llamafile)",
                       minimum=0, maximum=86_400),
        "retries": Key("int", 2, "retries on 429 and 5xx, with backoff", minimum=0, maximum=20),
        "max_concurrency": Key("int", 4, "LLM calls in flight at once", minimum=1, maximum=256),
        "cache": Key("bool", True, "reuse responses cached on disk for identical prompts"),
        "backoff": Key("float", 1.0, "seconds before the first retry; doubles each retry",
                       minimum=0, maximum=3_600),
        "log": Key("bool", True, "log every prompt and response to SQLite ($CARTRIAGE_LOG_DB)"),
        "stream": Key("bool", True, "stream replies and stop reading at the call's reserved "
                      "completion (false for an endpoint that cannot stream: the whole reply is "
                      "then received and charged)"),
    },
    "ledger": {
        "url": Key("str", OPTIONAL, "where spend is recorded: a SQLite path, or postgresql://... "
                   "(${VAR} is read from the environment); default <git dir>/cartriage/"
                   "ledger.db when a PR or a ledger cap is given"),
        "repository": Key("str", OPTIONAL, "the repository's name in the ledger (default: from "
                          "CI, else the repository folder's name)"),
        "reservation_ttl": Key("float", 600.0, "seconds a reservation outlives its last use "
                               "(a runner that dies holds nothing longer)", minimum=1),
    },
    "review": {
        "policy": Key("str", "consequence-aware", "allocation policy (the best in the bench)",
                      choices=("uniform", "difficulty-ranked", "difficulty-aware",
                               "consequence-aware", "priority-aware")),
        "fail_on": Key("str", "never", "exit 1 when a finding is at or above this severity",
                       choices=FAIL_ON),
        "require_coverage": Key("str", OPTIONAL, "fail when a unit of this tier or above goes "
                                "unreviewed", choices=TIERS),
    },
    "analysis": {
        "max_file_bytes": Key("int", 1_000_000, "larger files get path-based roles only",
                              minimum=0),
        "unit_max_lines": Key("int", 400, "a file with more changed lines is split into units",
                              minimum=1),
        "fan_in": Key("bool", True, "index the repository's imports to measure fan-in"),
    },
    "calibration": {
        "file": Key("str", OPTIONAL, "measured miss probabilities from `cartriage calibrate`, "
                    "used by the allocator instead of the modelled ones (default: "
                    "cartriage-calibration.json at the project root, when present)"),
    },
    "ignore": {
        "paths": Key("list", DEFAULT_IGNORE, "globs never reviewed (lockfiles, vendored, "
                     "generated)"),
        "extra": Key("list", [], "globs added to `paths` without replacing the defaults"),
    },
}

RULE_KEYS = {
    "path": Key("str", OPTIONAL, "glob the file path must match"),
    "has_role": Key("str", OPTIONAL, "role the file must have (from analysis)"),
    "role": Key("str", OPTIONAL, "role to add to matching files"),
    "remove_role": Key("str", OPTIONAL, "role the analysis found that matching files do not have"),
    "consequence": Key("str", OPTIONAL, "pin the consequence tier", choices=TIERS),
    "min_strategy": Key("str", OPTIONAL, "cheapest strategy allowed (a registered strategy)"),
}


@dataclass(frozen=True)
class Rule:
    """A `[[rules]]` entry: a path glob and/or a role it applies to, and what it sets."""

    index: int
    path: str | None = None
    has_role: str | None = None
    role: str | None = None
    consequence: str | None = None
    min_strategy: str | None = None
    remove_role: str | None = None

    def matches(self, path: str, roles: tuple[str, ...] = ()) -> bool:
        if self.path is not None and not glob_match(path, self.path):
            return False
        return self.has_role is None or self.has_role in roles

    def describe(self) -> str:
        what = " and ".join(
            f"{k}={v!r}" for k, v in (("path", self.path), ("has_role", self.has_role)) if v
        )
        return f"rules[{self.index}] ({what})"


@dataclass
class Config:
    """The effective configuration and where each value came from."""

    sections: dict[str, dict[str, Any]]
    strategies: dict[str, dict[str, Any]]
    rules: tuple[Rule, ...]
    sources: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def get(self, section: str, key: str) -> Any:
        return self.sections[section].get(key)

    def strategy(self, name: str) -> dict[str, Any]:
        return self.strategies[name]

    def ignored(self, path: str) -> bool:
        globs = self.sections["ignore"]["paths"] + self.sections["ignore"]["extra"]
        pattern = globs_pattern(tuple(globs))  # one regex: a batch asks for every file
        return pattern is not None and pattern.match(path) is not None


@functools.lru_cache(maxsize=16)
def globs_pattern(globs: tuple[str, ...]) -> re.Pattern | None:
    """One compiled regex matching what `glob_match` matches for any of `globs`."""
    variants = []
    for glob in globs:
        variants.append(glob)
        while glob.startswith("**/"):
            glob = glob[3:]
            variants.append(glob)
    if not variants:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(v)})" for v in variants))


def glob_match(path: str, pattern: str) -> bool:
    """Match a repository path against a glob where `**/` may also match nothing."""
    if fnmatch.fnmatchcase(path, pattern):
        return True
    while pattern.startswith("**/"):
        pattern = pattern[3:]
        if fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def load(
    cwd: Path | None = None,
    explicit: Path | None = None,
    overrides: dict[tuple[str, ...], Any] | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Build the effective configuration; raises ConfigError naming the file and key."""
    cwd = Path.cwd() if cwd is None else cwd
    env = os.environ if env is None else env
    config = _defaults()
    user = user_config_path(env)
    if user.is_file():
        _merge_file(config, user, _read_toml(user))
    project = [explicit] if explicit else find_project_files(cwd)
    for path in project:
        if explicit and not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        data = _read_toml(path)
        if path.name == "pyproject.toml":
            data = _tool_table(data).get("cartriage", {})
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: [tool.cartriage] must be a table")
        _merge_file(config, path, data, label=_label(path))
    _merge_env(config, env)
    for dotted, value in (overrides or {}).items():
        if value is UNSET:
            config.sections[dotted[0]][dotted[1]] = None
            config.sources[".".join(dotted)] = "command line"
        elif value is not None:
            _set(config, dotted, value, "command line", "command line")
    _locate_calibration(config, cwd.resolve(), project)
    return config


def _locate_calibration(config: Config, cwd: Path, project: list[Path]) -> None:
    """Make [calibration] file absolute (relative to the file that set it, else the working
    folder), or find `cartriage-calibration.json` next to the project file or at the root."""
    from cartriage.calibration import FILE_NAME

    value, source = config.get("calibration", "file"), config.sources["calibration.file"]
    if value is not None:
        setter = Path(source.removesuffix(" [tool.cartriage]"))
        base = setter.parent if setter.is_file() else cwd
        config.sections["calibration"]["file"] = str((base / value).resolve())
        return
    for folder in (*(p.parent for p in project), cwd, *cwd.parents):
        if (folder / FILE_NAME).is_file():
            config.sections["calibration"]["file"] = str(folder / FILE_NAME)
            config.sources["calibration.file"] = f"found at {folder}"
            return
        if (folder / ".git").exists():
            return


def user_config_path(env: dict[str, str] | os._Environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME", "~"), ".config")
    return Path(os.path.expanduser(base)) / "cartriage" / "config.toml"


def find_project_files(cwd: Path) -> list[Path]:
    """The first `cartriage.toml`, or `pyproject.toml` with [tool.cartriage], from cwd upward."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / "cartriage.toml"
        if candidate.is_file():
            return [candidate]
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "cartriage" in _tool_table(_read_toml(pyproject)):
            return [pyproject]
        if (folder / ".git").exists():
            break
    return []


def _label(path: Path) -> str:
    return f"{path} [tool.cartriage]" if path.name == "pyproject.toml" else str(path)


def _defaults() -> Config:
    sections = {
        name: {k: (None if spec.default is OPTIONAL else _copy(spec.default))
               for k, spec in keys.items()}
        for name, keys in SCHEMA.items()
    }
    tables = {}
    for strategy in strategies.all_strategies():
        values = {k: (None if spec.default is OPTIONAL else _copy(spec.default))
                  for k, spec in _STRATEGY_KEYS.items()}
        values.update(strategy.defaults)
        tables[strategy.name] = values
    return Config(sections=sections, strategies=tables, rules=(),
                  sources=dict.fromkeys(_all_keys(), "default"))


def _all_keys() -> list[str]:
    keys = [f"{s}.{k}" for s, table in SCHEMA.items() for k in table]
    keys += [f"strategies.{n}.{k}" for n in strategies.names() for k in _STRATEGY_KEYS]
    return keys


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _tool_table(data: dict[str, Any]) -> dict[str, Any]:
    """`[tool]` of a pyproject.toml; not a table (`tool = 5`) counts as no [tool] at all."""
    tool = data.get("tool", {})
    return tool if isinstance(tool, dict) else {}


def _closest(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _merge_file(config: Config, path: Path, data: dict[str, Any], label: str | None = None):
    label = label or str(path)
    config.files = (*config.files, label)
    valid = [*SCHEMA, "strategies", "rules"]
    for section, table in data.items():
        if section not in valid:
            raise ConfigError(f"{label}: unknown section [{section}]{_closest(section, valid)}")
        if section == "rules":
            config.rules = _parse_rules(label, table)
            config.sources["rules"] = label
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: [{section}] must be a table")
        if section == "strategies":
            for name, values in table.items():
                if name not in strategies.names():
                    raise ConfigError(f"{label}: unknown strategy [strategies.{name}]"
                                      f"{_closest(name, strategies.names())}")
                if not isinstance(values, dict):
                    raise ConfigError(f"{label}: [strategies.{name}] must be a table")
                for key, value in values.items():
                    _set(config, ("strategies", name, key), value, label, "file")
            continue
        for key, value in table.items():
            _set(config, (section, key), value, label, "file")


def _parse_rules(label: str, table: Any) -> tuple[Rule, ...]:
    if not isinstance(table, list) or not all(isinstance(t, dict) for t in table):
        raise ConfigError(f"{label}: rules must be an array of tables ([[rules]])")
    rules = []
    for index, entry in enumerate(table):
        values = {}
        for key, value in entry.items():
            where = f"rules[{index}].{key}"
            if key not in RULE_KEYS:
                raise ConfigError(f"{label}: unknown key '{where}'{_closest(key, RULE_KEYS)}")
            values[key] = _check(label, where, RULE_KEYS[key], value, "file")
            if key == "min_strategy" and value not in strategies.names():
                raise ConfigError(f"{label}: '{where}' must be one of "
                                  f"{', '.join(strategies.names())}, got {value!r}"
                                  f"{_closest(value, strategies.names())}")
        if not values.get("path") and not values.get("has_role"):
            raise ConfigError(f"{label}: rules[{index}] needs 'path' or 'has_role'")
        if not any(values.get(k) for k in ("role", "consequence", "min_strategy", "remove_role")):
            raise ConfigError(
                f"{label}: rules[{index}] sets nothing: give 'role', 'consequence', "
                "'min_strategy' or 'remove_role'"
            )
        rules.append(Rule(index=index, **values))
    return tuple(rules)


def _spec(label: str, dotted: tuple[str, ...]) -> Key:
    if dotted[0] == "strategies":
        if len(dotted) != 3 or dotted[1] not in strategies.names():
            raise ConfigError(f"{label}: unknown key '{'.'.join(dotted)}'")
        keys = _STRATEGY_KEYS
    else:
        if len(dotted) != 2 or dotted[0] not in SCHEMA:
            raise ConfigError(f"{label}: unknown key '{'.'.join(dotted)}'"
                              f"{_closest(dotted[0], [*SCHEMA, 'strategies'])}")
        keys = SCHEMA[dotted[0]]
    if dotted[-1] not in keys:
        prefix = ".".join(dotted[:-1])
        match = difflib.get_close_matches(dotted[-1], list(keys), n=1, cutoff=0.5)
        hint = f" (did you mean '{prefix}.{match[0]}'?)" if match else ""
        raise ConfigError(f"{label}: unknown key '{'.'.join(dotted)}'{hint}")
    return keys[dotted[-1]]


def _set(config: Config, dotted: tuple[str, ...], value: Any, label: str, origin: str):
    spec = _spec(label, dotted)
    name = ".".join(dotted)
    value = _check(label, name, spec, value, origin)
    if dotted[0] == "strategies":
        config.strategies[dotted[1]][dotted[2]] = value
    else:
        config.sections[dotted[0]][dotted[1]] = value
    config.sources[name] = label


_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "a boolean",
               "list": "a list of strings"}


def _check(label: str, name: str, spec: Key, value: Any, origin: str) -> Any:
    """Validate one value; strings from the environment are converted by the expected type."""
    if origin == "env":
        value = _from_env(label, name, spec, value)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[spec.type]
    if not ok:
        raise ConfigError(f"{label}: '{name}' must be {_TYPE_NAMES[spec.type]}, "
                          f"got {type(value).__name__} {_short(value)}")
    if spec.type in ("int", "float"):
        if abs(value) > spec.maximum or not math.isfinite(value):
            raise ConfigError(f"{label}: '{name}' must be a finite number of at most "
                              f"{spec.maximum:,}, got {_short(value)}")
        value = float(value) if spec.type == "float" else value
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{label}: '{name}' must be one of {', '.join(spec.choices)}, "
                          f"got {value!r}{_closest(value, spec.choices)}")
    if spec.minimum is not None and value < spec.minimum:
        raise ConfigError(f"{label}: '{name}' must be at least {spec.minimum:g}, got {value!r}")
    return value


def _short(value: Any) -> str:
    """A value for an error message: one line, at most 60 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _from_env(label: str, name: str, spec: Key, raw: str) -> Any:
    text = raw.strip()
    try:
        if spec.type == "int":
            return int(text)
        if spec.type == "float":
            return float(text)
    except ValueError:
        raise ConfigError(
            f"{label}: '{name}' must be {_TYPE_NAMES[spec.type]}, got {_short(raw)}") from None
    if spec.type == "bool":
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{label}: '{name}' must be a boolean (true/false), got {raw!r}")
    if spec.type == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    return raw


def _merge_env(config: Config, env) -> None:
    for variable in sorted(env):
        if not variable.startswith("CARTRIAGE_") or "__" not in variable:
            continue
        dotted = tuple(part.lower() for part in variable[len("CARTRIAGE_"):].split("__"))
        _set(config, dotted, env[variable], f"environment ${variable}", "env")


def effective(config: Config) -> list[tuple[str, Any, str]]:
    """(dotted key, value, source) for every key, for `cartriage config`."""
    rows = []
    for section, table in config.sections.items():
        rows += [(f"{section}.{k}", v, config.sources[f"{section}.{k}"]) for k, v in table.items()]
    for name, table in config.strategies.items():
        rows += [(f"strategies.{name}.{k}", v, config.sources[f"strategies.{name}.{k}"])
                 for k, v in table.items()]
    for rule in config.rules:
        values = {k: getattr(rule, k) for k in RULE_KEYS if getattr(rule, k)}
        rows.append((f"rules[{rule.index}]", values, config.sources.get("rules", "default")))
    return rows
