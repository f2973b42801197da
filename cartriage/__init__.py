"""cartriage: consequence-aware code-review triage."""

__version__ = "0.1.0"
