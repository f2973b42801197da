"""PHP: functions, classes, interfaces, traits, methods; public unless private/protected."""

from __future__ import annotations

import re

from cartriage.analysis.languages import relative, suffixes

NAME = "php"
EXTENSIONS = (".php",)
FRAGMENT_PREFIX = "<?php\n"  # a hunk alone has no opening tag: without it all is HTML text

DEFINITIONS = """
(function_definition name: (name) @name) @function
(class_declaration name: (name) @name) @class
(interface_declaration name: (name) @name) @interface
(trait_declaration name: (name) @name) @trait
(enum_declaration name: (name) @name) @enum
(method_declaration name: (name) @name) @method
"""
IMPORTS = """
(namespace_use_clause (qualified_name) @import)
(namespace_use_clause (name) @import)
(require_expression (string) @import)
(require_once_expression (string) @import)
(include_expression (string) @import)
(include_once_expression (string) @import)
"""
SECTION = re.compile(
    r"\b(?P<kind>class|interface|trait|enum)\s+(?P<name>\w+)|function\s+(?P<name2>\w+)"
)


def grammar():
    import tree_sitter_php

    return tree_sitter_php.language_php()


def is_public(node, name: str, context) -> bool:
    return not any(c.type == "visibility_modifier" and c.text in (b"private", b"protected")
                   for c in node.children)


def section_public(name: str, line: str) -> bool:
    return not ({"private", "protected"} & set(line.split()))


def module_keys(path: str) -> list[str]:
    return [path.rsplit(".", 1)[0].lower()]


def import_keys(spec: str, importer: str) -> list[str]:
    if spec.endswith(".php"):
        return [relative(importer, spec).rsplit(".", 1)[0].lower()]
    parts = spec.lower().lstrip("\\").split("\\")
    return suffixes(parts, minimum=min(2, len(parts)))
