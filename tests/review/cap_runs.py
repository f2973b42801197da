"""Randomized review runs against a dishonest endpoint, for the hard-cap test and benchmark.

Each run draws a change (1-8 units, mixed strategies), a token budget, a concurrency and reply
lengths, reviews it against a local server that bills the way `misbehaviour` says, and returns
what the server counted (`server.billed`) next to the cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from llm_server import Billing, LLMServer, finding, findings
from review_support import config_for, patch_for, result_for

from cartriage import review

MISBEHAVIOURS = {
    "honest": Billing(),
    "over-bills prompt 2-6x": None,  # factor drawn per run
    "ignores max_tokens": Billing(honour_max_tokens=False),
    "omits usage": Billing(usage="missing"),
    "zero usage": Billing(usage="zero"),
    "negative usage": Billing(usage="negative"),
    "non-numeric usage": Billing(usage="text"),
}


@dataclass
class Run:
    cap: int
    billed: int  # what the server counted, whatever it reported
    charged: int  # what cartriage charged against the budget
    complete: bool
    statuses: list[str]
    prompt_factor: float  # how many times higher than characters / 4 the server billed prompts


def prose(chars: int) -> str:
    """`chars` characters of words that differ, as a model writes (a stream of one chunk
    repeated is cut by litellm as a model stuck in a loop)."""
    return " ".join(f"word{i}" for i in range(chars // 6 + 1))[:chars]


def random_run(rng: random.Random, misbehaviour: str, tmp: Path) -> Run:
    billing = MISBEHAVIOURS[misbehaviour] or Billing(prompt_factor=rng.uniform(2, 6))
    units = rng.randint(1, 8)
    patch = "".join(patch_for(f"app/mod{i}.py", [f"def f{i}(x):", f"    return x / {i}"] *
                              rng.randint(1, 30)) for i in range(units))
    max_output = rng.choice((200, 400, 800))
    verbose = rng.choice((1, 3, 6))  # replies up to 6x max_tokens (cut unless ignored)
    cap = rng.randint(0, 20_000)
    strategies = {f"app/mod{i}.py": rng.choice((("single", 1), ("multi", 2), ("multi", 3),
                                                ("deliberate", 2)))
                  for i in range(units)}

    def answer(body):
        return findings(finding("app/mod0.py", 1, "Division by zero",
                                explanation=prose(max_output * 4 * verbose)))

    with LLMServer(responder=answer, billing=billing) as server:
        config = config_for(server.url, tmp, max_concurrency=rng.choice((1, 2, 4)), cache=False)
        for name in ("single", "multi", "deliberate"):
            config.strategies[name]["max_output_tokens"] = max_output
        result = review.run(result_for(patch, strategies=strategies, budget_tokens=cap), config)
        return Run(cap, server.billed, result.prompt_tokens + result.completion_tokens,
                   result.complete, [u.status for u in result.units], billing.prompt_factor)
