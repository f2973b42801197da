"""Token and dollar cost of review calls, estimated before any prompt is built.

`estimate_prompt_tokens` is shared with the review stage so that the plan and the review agree
on what a unit costs. Prices come from litellm's bundled cost map (never fetched); litellm is
imported only when a dollar budget or price is asked for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cartriage.errors import ConfigError

if TYPE_CHECKING:
    from cartriage.analysis.facts import Unit
    from cartriage.strategies import Call

# Measured on the shared change records: a diff line averages 42 characters, about 11 tokens
# with its prefix; every hunk brings a header and 3 context lines on each side.
PROMPT_OVERHEAD = 700  # instructions, output format, file header, delimiters
TOKENS_PER_LINE = 11
CONTEXT_LINES_PER_HUNK = 7


def estimate_prompt_tokens(unit: Unit, overhead: int = PROMPT_OVERHEAD) -> int:
    """Prompt tokens to review `unit`: changed lines, hunk context and a fixed overhead."""
    lines = unit.added + unit.removed + CONTEXT_LINES_PER_HUNK * len(unit.hunks)
    return overhead + TOKENS_PER_LINE * lines


def estimate_lines_tokens(added: int, removed: int, hunks: int,
                          overhead: int = PROMPT_OVERHEAD) -> int:
    """The same estimate from counts, for records that have no Unit (bench, scoring data)."""
    return overhead + TOKENS_PER_LINE * (added + removed + CONTEXT_LINES_PER_HUNK * hunks)


def model_prices(model: str | None) -> tuple[float, float]:
    """(USD per input token, USD per output token) from litellm's local cost map."""
    if not model:
        raise ConfigError("a budget in USD needs a model: set [llm] model or "
                          "[strategies.<name>] model")
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm  # lazy: ~2 s, only for dollar budgets

    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises a bare Exception for unmapped models
        info = None
    prices = (info or {}).get("input_cost_per_token"), (info or {}).get("output_cost_per_token")
    if None in prices:
        raise ConfigError(f"no price known for model {model!r} in litellm's cost map: use a "
                          "token budget ([budget] tokens) or a model with a known price")
    return float(prices[0]), float(prices[1])


def call_usd(call: Call, prompt_tokens: int, prices: dict[str | None, tuple[float, float]]):
    """Dollar cost of one call, with prices looked up per model."""
    price_in, price_out = prices[call.model]
    return (call.prompt_copies * prompt_tokens + call.extra_input) * price_in \
        + call.output * price_out
