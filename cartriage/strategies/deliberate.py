"""deliberate: K samples, then a judge call that sees the unit and every candidate finding.

The judge keeps a correct candidate with probability `judge_accuracy` and drops false ones
(precision); in the miss model it can only lose a catch, so deliberation pays for itself through
more samples and different models, and through the precision that the loss does not count.
It sees the most context ("callers": the enclosing definitions, the definitions the change
calls and the call sites of signatures it changes).
"""

from cartriage.strategies.base import Strategy

STRATEGY = Strategy("deliberate", depth=30, summary="K samples, then a judge",
                    defaults={"samples": 5, "temperature": 0.7, "context": "callers"},
                    judged=True, bar=("magenta", "█"))
