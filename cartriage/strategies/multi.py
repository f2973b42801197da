"""multi: K independent samples (taking `models` in turn), findings merged.

Merging is a union of de-duplicated findings: it raises recall, and precision falls with each
extra sample; the judge of `deliberate` is the remedy for that. Each sample also sees the
enclosing function or class of every changed line (context "function").
"""

from cartriage.strategies.base import Strategy

STRATEGY = Strategy("multi", depth=20, summary="K samples merged",
                    defaults={"samples": 3, "temperature": 0.7, "context": "function"},
                    bar=("blue", "▓"))
