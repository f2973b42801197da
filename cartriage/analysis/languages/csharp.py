"""C#: classes, interfaces, structs, records, enums, methods; public = `public`."""

from __future__ import annotations

import re

from cartriage.analysis.languages import suffixes

NAME = "csharp"
EXTENSIONS = (".cs",)

DEFINITIONS = """
(class_declaration name: (identifier) @name) @class
(interface_declaration name: (identifier) @name) @interface
(struct_declaration name: (identifier) @name) @struct
(record_declaration name: (identifier) @name) @class
(enum_declaration name: (identifier) @name) @enum
(method_declaration name: (identifier) @name) @method
(constructor_declaration name: (identifier) @name) @method
(local_function_statement name: (identifier) @name) @function
(property_declaration name: (identifier) @name) @property
(namespace_declaration name: (_) @name) @scope
"""
IMPORTS = """
(using_directive (qualified_name) @import)
(using_directive (identifier) @import)
"""
SECTION = re.compile(
    r"\b(?P<kind>class|interface|struct|record|enum)\s+(?P<name>\w+)|(?P<name2>\w+)\s*\([^;]*$"
)


def grammar():
    import tree_sitter_c_sharp

    return tree_sitter_c_sharp.language()


def is_public(node, name: str, context) -> bool:
    if any(c.type == "modifier" and c.text == b"public" for c in node.children):
        return True
    parent = node.parent
    return parent is not None and parent.parent is not None and (
        parent.parent.type == "interface_declaration"
    )


def section_public(name: str, line: str) -> bool:
    return "public" in line.split()


def module_keys(path: str) -> list[str]:
    folders = [p for part in path.split("/")[:-1] for p in part.split(".")]
    return ["/".join([*folders, "*"])]


def import_keys(spec: str, importer: str) -> list[str]:
    parts = spec.replace("global::", "").split(".")
    return [f"{s}/*" for s in suffixes(parts, minimum=min(2, len(parts)))]
