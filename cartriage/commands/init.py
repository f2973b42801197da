"""`cartriage init`: write a commented cartriage.toml, generated from the configuration schema."""

from __future__ import annotations

import json
from pathlib import Path

from cartriage import config as configuration
from cartriage import strategies
from cartriage.errors import InputError, UsageError

_INTRO = """\
# cartriage configuration. Every key is optional: the commented values are the defaults.
# Precedence, lowest first: defaults, ~/.config/cartriage/config.toml, this file,
# environment variables CARTRIAGE_SECTION__KEY (e.g. CARTRIAGE_BUDGET__TOKENS=50000),
# command-line flags. `cartriage config` shows the effective values and their sources.
"""

_RULES = """\
# [[rules]] pin what path globs or roles mean. Each needs `path` and/or `has_role`, and sets
# `role`, `consequence` (low, medium, high) and/or `min_strategy` (skip, single, multi,
# deliberate).
[[rules]]
has_role = "migration"
min_strategy = "single"   # database migrations are never skipped

# [[rules]]
# path = "billing/**"
# consequence = "high"
"""


def template() -> str:
    parts = [_INTRO]
    for section, keys in configuration.SCHEMA.items():
        parts.append(f"\n[{section}]")
        for name, spec in keys.items():
            parts.append(_line(name, spec.default, spec))
    for strategy in strategies.all_strategies():
        if not strategy.sends:
            continue
        parts.append(f"\n[strategies.{strategy.name}]")
        for name, spec in configuration._STRATEGY_KEYS.items():
            default = strategy.defaults.get(name, spec.default)
            parts.append(_line(name, default, spec))
    parts.append("\n" + _RULES)
    return "\n".join(parts)


def _line(name: str, default, spec) -> str:
    choices = f" ({', '.join(spec.choices)})" if spec.choices else ""
    if default is configuration.OPTIONAL:
        return f"# {name} = ...  # {spec.doc}{choices}"
    if isinstance(default, list) and len(default) > 3:
        body = ",\n".join(f"#   {json.dumps(v)}" for v in default)
        return f"# {spec.doc}{choices}\n# {name} = [\n{body},\n# ]"
    return f"# {name} = {_toml(default)}  # {spec.doc}{choices}"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, str)):
        return json.dumps(value)
    return repr(value)


def run(*, path: Path, force: bool) -> int:
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    try:
        path.write_text(template(), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    print(f"wrote {path}")
    return 0
