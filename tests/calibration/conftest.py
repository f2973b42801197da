"""The calibrate tests share `env` (server URL, cache and log paths) with the review tests; each
test module brings its own `server`."""

from __future__ import annotations

from test_cli_review import env  # noqa: F401
