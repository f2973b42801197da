"""skip: no LLM call; every defect is missed."""

from cartriage.strategies.base import Skip

STRATEGY = Skip("skip", depth=0, summary="not reviewed", bar=("dim", " "))
