"""Review: run the planned strategies through litellm within a hard budget.

`run(result, config)` reviews every unit of `result.plan` and returns a `Review`;
`configured_model(config)` says which model would be used, or None when none is configured.
litellm is imported only when a model is resolved or called.
"""

from cartriage.review.runner import HOW_TO_CONFIGURE, configured_model, run

__all__ = ["HOW_TO_CONFIGURE", "configured_model", "run"]
