"""Review: run the planned strategies through litellm within a hard budget.

`run(result, config)` reviews every unit of `result.plan` and returns a `Review`;
`configured_model(config)` says which model would be used, or None when none is configured.
The runner is loaded on first use, so importing the contract (`review.findings`) stays cheap;
litellm is imported only when a model is resolved or called.
"""

__all__ = ["HOW_TO_CONFIGURE", "configured_model", "run"]


def __getattr__(name: str):
    if name in __all__:
        from cartriage.review import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'cartriage.review' has no attribute {name!r}")
