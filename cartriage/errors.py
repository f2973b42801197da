"""The one fatal-error type, caught once at the top (cli.main), and the exit codes."""

from __future__ import annotations

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INCOMPLETE = 4
EXIT_INTERNAL = 70  # a bug in cartriage (EX_SOFTWARE)
EXIT_PIPE = 141  # the reader closed the output pipe (128 + SIGPIPE, as git)


class CartriageError(Exception):
    """A fatal error: printed as one line on stderr, then exit with `exit_code`."""

    exit_code = EXIT_USAGE


class UsageError(CartriageError):
    """Bad command-line usage or configuration (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """Invalid configuration: the message names the file and key (exit 2)."""


class InputError(CartriageError):
    """The change cannot be read: bad revision, unreadable file, malformed patch (exit 3)."""

    exit_code = EXIT_INPUT


class ModelError(CartriageError):
    """A shipped model file is missing, corrupt or of the wrong feature version (exit 2)."""

    exit_code = EXIT_USAGE
