"""Rust: fn, struct, enum, trait, impl blocks qualify methods; public = `pub`."""

from __future__ import annotations

import re

from cartriage.analysis.languages import has_child

NAME = "rust"
EXTENSIONS = (".rs",)

DEFINITIONS = """
(function_item name: (identifier) @name) @function
(function_signature_item name: (identifier) @name) @function
(struct_item name: (type_identifier) @name) @struct
(enum_item name: (type_identifier) @name) @enum
(trait_item name: (type_identifier) @name) @trait
(mod_item name: (identifier) @name body: (_)) @module
(impl_item type: (_) @name) @container
"""
IMPORTS = """
(use_declaration argument: (_) @import)
(mod_item name: (identifier) @import !body)
(extern_crate_declaration name: (identifier) @import)
"""
SECTION = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+|const\s+|unsafe\s+)*"
    r"(?:(?P<kind>fn|struct|enum|trait|mod)\s+(?P<name>\w+)|impl(?:<[^>]*>)?\s+(?P<owner>[\w:]+))"
)


def grammar():
    import tree_sitter_rust

    return tree_sitter_rust.language()


def _exported(node) -> bool:
    """`pub`, not `pub(crate)`, `pub(super)` or `pub(in path)`: those stay inside the crate."""
    return any(c.type == "visibility_modifier" and c.text.strip() == b"pub" for c in node.children)


def is_public(node, name: str, context) -> bool:
    if has_child(node, "visibility_modifier"):
        return _exported(node)
    parent = node.parent
    while parent is not None:
        if parent.type == "trait_item":
            return _exported(parent)
        if parent.type == "impl_item":
            return parent.child_by_field_name("trait") is not None
        parent = parent.parent
    return False


def section_public(name: str, line: str) -> bool:
    return line.lstrip().startswith("pub") and not line.lstrip().startswith("pub(")


def _module_parts(path: str) -> list[str]:
    parts = path.rsplit(".", 1)[0].split("/")
    if "src" in parts:
        parts = parts[len(parts) - parts[::-1].index("src"):]
    if parts and parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def module_keys(path: str) -> list[str]:
    parts = _module_parts(path)
    return ["/".join(parts)] if parts else []


def import_keys(spec: str, importer: str) -> list[str]:
    spec = spec.split("{", 1)[0].split(" as ", 1)[0].strip().rstrip(":")
    parts = [p for p in spec.split("::") if p and p != "*"]
    here = _module_parts(importer)
    if importer.rsplit("/", 1)[-1] not in ("mod.rs", "lib.rs", "main.rs"):
        here = here[:-1]
    if len(parts) == 1 and "::" not in spec:  # `mod name;` or `extern crate name;`
        return ["/".join([*here, parts[0]])]
    if parts and parts[0] == "crate":
        parts = parts[1:]
    elif parts and parts[0] in ("self", "super"):
        base = list(here)
        while parts and parts[0] in ("self", "super"):
            if parts.pop(0) == "super" and base:
                base.pop()
        parts = base + parts
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
