"""Java: classes, interfaces, enums, records, methods; public = `public` (interfaces: all)."""

from __future__ import annotations

import re

NAME = "java"
EXTENSIONS = (".java",)

DEFINITIONS = """
(class_declaration name: (identifier) @name) @class
(interface_declaration name: (identifier) @name) @interface
(enum_declaration name: (identifier) @name) @enum
(record_declaration name: (identifier) @name) @class
(annotation_type_declaration name: (identifier) @name) @interface
(method_declaration name: (identifier) @name) @method
(constructor_declaration name: (identifier) @name) @method
"""
IMPORTS = """
(import_declaration (scoped_identifier) @import)
"""
SECTION = re.compile(
    r"\b(?P<kind>class|interface|enum|record)\s+(?P<name>\w+)|(?P<name2>\w+)\s*\([^;]*$"
)


def grammar():
    import tree_sitter_java

    return tree_sitter_java.language()


def _modifiers(node) -> bytes:
    return b" ".join(c.text for c in node.children if c.type == "modifiers")


def is_public(node, name: str, context) -> bool:
    if b"public" in _modifiers(node).split():
        return True
    parent = node.parent
    while parent is not None and parent.type.endswith("_body"):
        parent = parent.parent
    return parent is not None and parent.type in ("interface_declaration",
                                                  "annotation_type_declaration")


def section_public(name: str, line: str) -> bool:
    return "public" in line.split()


def _parts(path: str) -> list[str]:
    parts = path.rsplit(".", 1)[0].split("/")
    for root in ("java", "kotlin", "src"):
        if root in parts:
            return parts[len(parts) - parts[::-1].index(root):]
    return parts


def module_keys(path: str) -> list[str]:
    parts = _parts(path)
    return ["/".join(parts), "/".join([*parts[:-1], "*"])]


def import_keys(spec: str, importer: str) -> list[str]:
    # `import a.b.C`, `import a.b.*` (a package) or `import static a.b.C.m` (a member)
    path = spec.replace(".", "/")
    return [path, f"{path}/*", path.rsplit("/", 1)[0]]
