"""C: functions, structs; public = not `static`; a .c file is reached through its header."""

from __future__ import annotations

import re

from cartriage.analysis.languages import relative

NAME = "c"
FAMILY = "c"
EXTENSIONS = (".c", ".h")

DEFINITIONS = """
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @function
(function_definition declarator: (pointer_declarator
  declarator: (function_declarator declarator: (identifier) @name))) @function
(struct_specifier name: (type_identifier) @name body: (_)) @struct
(enum_specifier name: (type_identifier) @name body: (_)) @enum
"""
IMPORTS = """
(preproc_include path: (_) @import)
"""
SECTION = re.compile(r"(?:(?P<kind>struct|enum|class)\s+(?P<name>\w+)|(?P<name2>\w+)\s*\([^;]*$)")
HEADERS = (".h", ".hh", ".hpp", ".hxx")


def grammar():
    import tree_sitter_c

    return tree_sitter_c.language()


def is_public(node, name: str, context) -> bool:
    return not any(c.type == "storage_class_specifier" and c.text == b"static"
                   for c in node.children)


def section_public(name: str, line: str) -> bool:
    return "static" not in line.split()


def module_keys(path: str) -> list[str]:
    stem, dot, ext = path.rpartition(".")
    if not dot or f".{ext}" in HEADERS:
        return [path]
    return [path, *(stem + h for h in HEADERS)]


def import_keys(spec: str, importer: str) -> list[str]:
    here = relative(importer, spec)
    return [here, spec] if here and here != spec else [spec]
