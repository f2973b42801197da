"""Coerce `str` and `Path` command-line values (and unset flags) without pydantic.

typer (>= 0.25) builds a pydantic `TypeAdapter` for every non-boolean parameter of the command
being run, on every run, even for a value that is None: importing pydantic and building the
schemas is 100-150 ms of a 0.3 s plan. Our parameters are plain strings and paths, which need
no schema: `plain_values` gives those parameters a coercion that keeps typer's own path checks
(`coerce_cli_path`) and hands any other value (or type) to typer's usual adapter. With a typer
that has no such layer (older or newer releases), it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


def plain_values(command: Any) -> None:
    """Give the str, Path and bool parameters of `command` and its subcommands a
    pydantic-free coercion (in place). A flag's value is a bool, which typer passes without
    coercion, or None (e.g. `--help` not given), which needs none."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:  # a typer without the pydantic layer: nothing to avoid
        return

    @dataclass(frozen=True)
    class PlainValue(RuntimeParam):
        """A str passes as it is; a str for a Path goes through typer's path checks."""

        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, str) and self.annotation is str:
                return value
            if isinstance(value, (str, Path)) and self.annotation is Path:
                return coerce_cli_path(Path(value), self.parameter_info, path_type=Path,
                                       param=param, ctx=ctx)
            return build_runtime_param(self.descriptor)._coerce_value(value, param=param,
                                                                       ctx=ctx)

    def plain(param: Any) -> None:
        descriptor = getattr(param, "type_descriptor", None)
        if (descriptor is None or getattr(param, "_runtime_param", False) is not None
                or descriptor.annotation not in (str, Path, bool)
                or descriptor.file_annotation is not None
                or descriptor.parameter_info.parser is not None
                or descriptor.parameter_info.path_type is not None):
            return
        param._runtime_param = PlainValue(annotation=descriptor.annotation,
                                          parameter_info=descriptor.parameter_info,
                                          descriptor=descriptor)

    def with_plain_help(get_help_option: Any) -> Any:
        """click makes `--help` on first use, from the context's option names."""
        def get(ctx: Any) -> Any:
            option = get_help_option(ctx)
            if option is not None:
                plain(option)
            return option
        return get

    pending = [command]
    while pending:
        current = pending.pop()
        pending.extend(getattr(current, "commands", {}).values())
        for param in current.params:
            plain(param)
        current.get_help_option = with_plain_help(current.get_help_option)
