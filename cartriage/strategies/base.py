"""The Strategy type: one object owns a strategy's settings, cost, miss model and how it runs.

A strategy here is K review samples of a unit (models taken in turn), merged, then optionally a
judge call that confirms the merged candidates. `skip` sends nothing. A strategy that reviews
another way subclasses `Strategy` and overrides `calls`, `miss_by_tier` and `review` (and
`worst_case` when its calls differ from samples plus a judge).

Planning reads `settings`, `calls`, `attempts` and `miss_by_tier`: pure Python. `review` and
`worst_case` import the review stage lazily, so planning never loads litellm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cartriage.strategies.miss import judged, sampled_miss

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from cartriage.config import Config
    from cartriage.review.budget import Cost, Reservation
    from cartriage.review.llm import Client
    from cartriage.review.strategies import Job, Outcome, Tally

CONTEXT_LEVELS = ("hunks", "function", "callers")  # what a review sees, smallest first
JUDGE_OVERHEAD = 400  # the judge's instructions around the candidate findings


@dataclass(frozen=True, slots=True)
class Call:
    """One LLM call of a strategy: input = prompt_copies * unit prompt + extra_input."""

    model: str | None
    prompt_copies: int
    extra_input: int
    output: int


def sample_models(settings: Mapping[str, Any]) -> list[str | None]:
    """Models the samples use, in turn: `models` if given, else the strategy's model."""
    return list(settings.get("models") or []) or [settings.get("model")]


@dataclass(frozen=True)
class Strategy:
    """A review strategy. `depth` orders strategies cheapest first (a `min_strategy` rule
    allows the named one and every deeper one); `defaults` override the [strategies.<name>]
    key defaults; `bar` is its colour and bar character in reports."""

    name: str
    depth: int
    summary: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    judged: bool = False
    bar: tuple[str, str] = ("white", "#")

    @property
    def sends(self) -> bool:
        """Whether the strategy calls a model at all."""
        return True

    def settings(self, config: Config) -> dict[str, Any]:
        """Its configuration table with models resolved: `model` from [llm] model, the judge
        from the first sample's model. The review calls the models the plan priced."""
        values = dict(config.strategy(self.name))
        values["model"] = values.get("model") or config.get("llm", "model")
        values["judge_model"] = values.get("judge_model") or sample_models(values)[0]
        return values

    def calls(self, settings: Mapping[str, Any]) -> list[Call]:
        """The calls it makes for one unit, for the plan's estimates."""
        models = sample_models(settings)
        samples, output = settings["samples"], settings["output_tokens"]
        calls = [Call(models[i % len(models)], 1, 0, output) for i in range(samples)]
        if self.judged:
            calls.append(Call(settings["judge_model"], 1, JUDGE_OVERHEAD + samples * output,
                              output))
        return calls

    def attempts(self, settings: Mapping[str, Any]) -> int:
        """Independent review attempts (samples) per unit."""
        return settings["samples"]

    def miss_by_tier(self, settings: Mapping[str, Any]) -> tuple[float, float, float]:
        """The documented model's chance of missing a defect, per difficulty tier."""
        return tuple(self.miss_from_attempts(settings, m)
                     for m in sampled_miss(settings, self.attempts(settings)))

    def miss_from_attempts(self, settings: Mapping[str, Any], miss: float) -> float:
        """Its miss chance given the chance that all its attempts miss (a judge may lose a
        correct candidate)."""
        return judged(miss, settings["judge_accuracy"]) if self.judged else miss

    def models(self, job: Job) -> str:
        """The models a job calls, as the ledger records them."""
        models = ",".join(dict.fromkeys(job.models))
        return f"{models}; judge {job.judge_model}" if self.judged else models

    def models_to_call(self, job: Job, client: Client) -> list[str]:
        """The models the job will call (samples answered from the cache aside), in order."""
        models = [r.model for r in map(job.sample_request, range(job.samples))
                  if not client.is_cached(r)]
        return list(dict.fromkeys(models + [job.judge_model] * self.judged))

    def review(self, job: Job, client: Client, pool: Executor, reservation: Reservation,
               tally: Tally) -> Outcome:
        """Run the samples, merge them, and let the judge confirm them when `judged`."""
        from cartriage.review import strategies as run

        outcome = run.sample(job, client, pool, reservation, tally)
        return run.confirm(job, outcome, client, reservation, tally) if self.judged else outcome

    def worst_case(self, job: Job, client: Client) -> Cost:
        """What the job's calls could cost at most (reserved before the first call)."""
        from cartriage.review import strategies as run

        total = run.samples_worst_case(job, client)
        return run.add_judge_worst_case(total, job, client) if self.judged else total


@dataclass(frozen=True)
class Skip(Strategy):
    """No call: every defect is missed."""

    @property
    def sends(self) -> bool:
        return False

    def calls(self, settings: Mapping[str, Any]) -> list[Call]:
        return []

    def attempts(self, settings: Mapping[str, Any]) -> int:
        return 0

    def miss_by_tier(self, settings: Mapping[str, Any]) -> tuple[float, float, float]:
        return (1.0, 1.0, 1.0)

    def miss_from_attempts(self, settings: Mapping[str, Any], miss: float) -> float:
        return 1.0
