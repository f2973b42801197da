"""Python: `def`/`class`; public = no leading underscore (dunders are public) and in `__all__`."""

from __future__ import annotations

import re

NAME = "python"
EXTENSIONS = (".py", ".pyi")
SUBMODULE_SEPARATOR = "."  # `from pkg import mod` may import the module pkg.mod

DEFINITIONS = """
(function_definition name: (identifier) @name) @function
(class_definition name: (identifier) @name) @class
"""
IMPORTS = """
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement module_name: (_) @import name: (dotted_name) @symbol)
(import_from_statement module_name: (_) @import name: (aliased_import name: (dotted_name) @symbol))
(import_from_statement module_name: (_) @import (wildcard_import) @symbol)
"""
SECTION = re.compile(r"^\s*(?:async\s+)?(?P<kind>def|class)\s+(?P<name>\w+)")
_ALL = re.compile(rb"^__all__\s*\+?=\s*[\[(]([^\])]*)", re.MULTILINE)


def grammar():
    import tree_sitter_python

    return tree_sitter_python.language()


def module_context(root, source: bytes) -> set[str] | None:
    if b"__all__" not in source:
        return None
    names = [re.findall(rb"[\"'](\w+)[\"']", m.group(1)) for m in _ALL.finditer(source)]
    return {n.decode() for group in names for n in group} if names else None


def _public_name(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def is_public(node, name: str, context) -> bool:
    top_level = node.parent is not None and (
        node.parent.type == "module"
        or (node.parent.type == "decorated_definition" and node.parent.parent.type == "module")
    )
    if top_level and context is not None:
        return name in context
    return _public_name(name)


def section_public(name: str, line: str) -> bool:
    return _public_name(name)


def module_keys(path: str) -> list[str]:
    parts = path.rsplit(".", 1)[0].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ["/".join(parts)] if parts else []


def import_keys(spec: str, importer: str) -> list[str]:
    if spec.startswith("."):
        level = len(spec) - len(spec.lstrip("."))
        package = importer.split("/")[:-1]
        if level > 1:
            package = package[: len(package) - (level - 1)]
        rest = [p for p in spec.lstrip(".").split(".") if p]
        return ["/".join(package + rest)] if package or rest else []
    return [spec.replace(".", "/")]
