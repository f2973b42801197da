"""Calibration: what each review strategy catches with the user's own model, measured.

`cartriage calibrate` injects known defects into real changes, reviews them with every strategy
through the review stage and writes a calibration file. When that file is configured ([calibration]
file, or `cartriage-calibration.json` found at the project root), the allocator takes its miss
probabilities from it instead of the documented model in `strategies/miss.py`.

Strategies are measured at a context level (`multi@function`); the allocator takes the measure of
each strategy at its configured level (a file written before context levels names the strategy
alone, and is taken for any level).

Contract: `load(path) -> Calibration`, `configured(config) -> Calibration | None`,
`Calibration.misses(names, modelled, levels)`; measuring is `measure.measure(...)`, injecting
`inject.candidates(...)` / `inject.inject(...)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cartriage import strategies as registry
from cartriage.errors import ConfigError

if TYPE_CHECKING:
    from cartriage.config import Config

FILE_NAME = "cartriage-calibration.json"
TIERS = ("low", "medium", "high")
VERSION = 1
MISS_FLOOR, MISS_CEILING = 0.01, 0.99
# A measure of n injected defects is weighed against the model's number as if the model were
# PRIOR_UNITS more observations (a beta prior centred on the model): 3 misses of 3 move a modelled
# 0.5 to 0.71, not to 1.0; 100 of 100 move it to 0.98.
PRIOR_UNITS = 4


@dataclass(frozen=True)
class StrategyMiss:
    """A strategy's measured miss probability, overall and per difficulty tier where measured."""

    miss: float
    injected: int
    by_tier: dict[str, tuple[float, int]]  # tier -> (miss, injected defects measured)
    context: str | None = None  # the context level measured at (None: any, an older file)


@dataclass(frozen=True)
class Calibration:
    """Measured miss probabilities per strategy, and where they came from."""

    path: str
    model: str
    created: str
    units: int
    strategies: dict[str, StrategyMiss]

    def measured(self, name: str, level: str) -> StrategyMiss | None:
        """The measure of strategy `name` at context `level` (or one taken at any level)."""
        return self.strategies.get(f"{name}@{level}") or self.strategies.get(name)

    def misses(self, names: tuple[str, ...], modelled: list[tuple[float, float, float]],
               levels: tuple[str, ...]) -> list[tuple[float, float, float]]:
        """(low, medium, high) miss per strategy in `names` (cheapest first) at its context
        level in `levels`, given the modelled ones. A measured strategy: each tier's own
        measure, else its overall measure, weighed against the model by sample size
        (PRIOR_UNITS). An unmeasured one (other than skip): the model's number scaled by
        measured / modelled of the nearest measured strategy, so that it is neither trusted
        blindly nor dropped. Clipped to [0.01, 0.99]."""
        measured = {}
        for name, level in zip(names, levels, strict=True):
            m = self.measured(name, level)
            if m is not None:
                prior = modelled[names.index(name)]
                measured[name] = tuple(
                    _clip(_weighed(*m.by_tier.get(t, (m.miss, m.injected)), prior[i]))
                    for i, t in enumerate(TIERS))
        out = []
        for index, name in enumerate(names):
            if name in measured or name not in measurable() or not measured:
                out.append(measured.get(name, modelled[index]))
                continue
            nearest = min(measured, key=lambda m: (abs(names.index(m) - index), -names.index(m)))
            reference = modelled[names.index(nearest)]
            out.append(tuple(
                _clip(modelled[index][t] * measured[nearest][t] / reference[t])
                if reference[t] > 0 else measured[nearest][t] for t in range(len(TIERS))))
        return out

    def describe(self) -> str:
        names = ", ".join(f"{n} {1 - m.miss:.0%} caught of {m.injected}"
                          for n, m in self.strategies.items())
        return (f"miss probabilities measured by `cartriage calibrate` in {self.path} "
                f"(model {self.model}, {self.units} units, {self.created}): {names}; "
                "unmeasured strategies scaled from the nearest measured one")


def measurable() -> tuple[str, ...]:
    """The strategies a calibration can measure: those that call a model, cheapest first."""
    return tuple(s.name for s in registry.all_strategies() if s.sends)


def _weighed(miss: float, injected: int, prior: float) -> float:
    return (miss * injected + prior * PRIOR_UNITS) / (injected + PRIOR_UNITS)


def _clip(value: float) -> float:
    return min(MISS_CEILING, max(MISS_FLOOR, value))


def configured(config: Config) -> Calibration | None:
    """The calibration the configuration names ([calibration] file), or None."""
    path = config.get("calibration", "file")
    return None if path is None else load(Path(path))


def load(path: Path) -> Calibration:
    """Read a calibration file; ConfigError naming the file and the bad key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: calibration file not found ([calibration] file)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the calibration file: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not a calibration file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(f"{path}: 'version' must be {VERSION} (write it with "
                          "`cartriage calibrate`)")
    table = data.get("strategies")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: 'strategies' must be a non-empty object")
    strategies = {}
    for name, entry in table.items():
        strategy, _, level = name.partition("@")
        if strategy not in measurable() or (level and level not in registry.CONTEXT_LEVELS):
            raise ConfigError(f"{path}: unknown strategy 'strategies.{name}' (use one of "
                              f"{', '.join(measurable())}, optionally @"
                              f"{'|'.join(registry.CONTEXT_LEVELS)})")
        where = f"strategies.{name}"
        miss = _probability(path, f"{where}.miss", _field(entry, "miss"))
        injected = _count(path, f"{where}.injected", _field(entry, "injected"))
        tiers = _field(entry, "by_tier") or {}
        if not isinstance(tiers, dict) or any(t not in TIERS for t in tiers):
            raise ConfigError(f"{path}: '{where}.by_tier' must map low/medium/high to measures")
        by_tier = {t: (_probability(path, f"{where}.by_tier.{t}.miss", _field(v, "miss")),
                       _count(path, f"{where}.by_tier.{t}.injected", _field(v, "injected")))
                   for t, v in tiers.items()}
        strategies[name] = StrategyMiss(miss, injected, by_tier, level or None)
    return Calibration(path=str(path), model=str(data.get("model", "?")),
                       created=str(data.get("created", "?")), units=int(data.get("units", 0)),
                       strategies=strategies)


def _field(entry, key: str):
    return entry.get(key) if isinstance(entry, dict) else None


def _probability(path: Path, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{path}: '{key}' must be a probability between 0 and 1, got {value!r}")
    return float(value)


def _count(path: Path, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{path}: '{key}' must be a positive integer, got {value!r}")
    return value
