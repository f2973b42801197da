"""single: one review pass with the strategy's model, on the changed hunks."""

from cartriage.strategies.base import Strategy

STRATEGY = Strategy("single", depth=10, summary="one review pass",
                    defaults={"samples": 1, "temperature": 0.0, "context": "hunks"},
                    bar=("cyan", "▒"))
