"""The review strategies: one small module each, sharing one protocol.

A strategy module defines
- `NAME`: its name in `cartriage.toml` ([strategies.<name>]);
- `calls(params) -> list[Call]`: the LLM calls it makes for one unit (see `cost.Call`);
- `attempts(params) -> int`: independent review attempts (samples) it makes;
- `miss_by_tier(params) -> (low, medium, high)`: modelled chance of missing a defect;
- `miss_from_attempts(miss) -> float`: its miss chance given the chance that all its attempts
  miss (the judge of deliberation may lose a correct candidate).

`params` is the strategy's configuration table plus `model` resolved from [llm] model.
Strategies are listed from cheapest to deepest; a `min_strategy` rule allows the named one and
every later one.
"""

from __future__ import annotations

from types import ModuleType

from cartriage.allocation.cost import sample_models
from cartriage.allocation.strategies import deliberate, multi, single, skip

REGISTRY: dict[str, ModuleType] = {m.NAME: m for m in (skip, single, multi, deliberate)}
NAMES: tuple[str, ...] = tuple(REGISTRY)


def params(config, name: str) -> dict:
    """The strategy's configuration with its models resolved: `model` from [llm] model, the
    judge from the first sample's model. The review stage calls the same models."""
    values = dict(config.strategy(name))
    values["model"] = values.get("model") or config.get("llm", "model")
    values["judge_model"] = values.get("judge_model") or sample_models(values)[0]
    return values
