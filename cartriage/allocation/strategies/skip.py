"""skip: no LLM call; every defect is missed."""

from __future__ import annotations

NAME = "skip"


def calls(params: dict) -> list:
    return []


def attempts(params: dict) -> int:
    return 0


def miss_by_tier(params: dict) -> tuple[float, float, float]:
    return (1.0, 1.0, 1.0)


def miss_from_attempts(params: dict, miss: float) -> float:
    return 1.0
