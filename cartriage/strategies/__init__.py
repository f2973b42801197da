"""Review strategies: one typed `Strategy` object each, listed in one registry table.

A strategy owns its settings (defaults for [strategies.<name>], including its context level),
its cost (`calls`), its miss model (`miss_by_tier`; a calibration file replaces it when present)
and how it runs (`review`, `worst_case`). The built-in ones are the table below, one file each;
`register` adds another (a plugin, a test) without touching any other module.

Contract: `get(name)`, `names()` (cheapest first), `all_strategies()`, `register(strategy)`,
`unregister(name)`, `settings(config, name)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cartriage.errors import ConfigError
from cartriage.strategies import deliberate, multi, single, skip
from cartriage.strategies.base import CONTEXT_LEVELS, Call, Strategy, sample_models

if TYPE_CHECKING:
    from cartriage.config import Config

__all__ = ["CONTEXT_LEVELS", "Call", "Strategy", "all_strategies", "get", "names", "register",
           "sample_models", "settings", "unregister"]

_TABLE: dict[str, Strategy] = {s.name: s for s in (skip.STRATEGY, single.STRATEGY,
                                                   multi.STRATEGY, deliberate.STRATEGY)}


def register(strategy: Strategy) -> Strategy:
    """Add a strategy (before loading a configuration that names it)."""
    if strategy.name in _TABLE:
        raise ConfigError(f"strategy {strategy.name!r} is already registered")
    if any(s.depth == strategy.depth for s in _TABLE.values()):
        raise ConfigError(f"strategy {strategy.name!r}: depth {strategy.depth} is taken")
    bad = strategy.defaults.get("context", "hunks")
    if bad not in CONTEXT_LEVELS:
        raise ConfigError(f"strategy {strategy.name!r}: context {bad!r} is not one of "
                          f"{', '.join(CONTEXT_LEVELS)}")
    _TABLE[strategy.name] = strategy
    return strategy


def unregister(name: str) -> None:
    """Remove a registered strategy."""
    _TABLE.pop(name, None)


def all_strategies() -> tuple[Strategy, ...]:
    """Every strategy, cheapest first."""
    return tuple(sorted(_TABLE.values(), key=lambda s: s.depth))


def names() -> tuple[str, ...]:
    return tuple(s.name for s in all_strategies())


def get(name: str) -> Strategy:
    try:
        return _TABLE[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}: use one of {', '.join(names())}") \
            from None


def settings(config: Config, name: str) -> dict[str, Any]:
    """The strategy's configuration with its models resolved (see `Strategy.settings`)."""
    return get(name).settings(config)
