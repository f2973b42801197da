"""C++: functions, classes, structs, namespaces, methods; access by `public:`/`private:`."""

from __future__ import annotations

from cartriage.analysis.languages import c

NAME = "cpp"
FAMILY = "c"
EXTENSIONS = (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".ipp")

DEFINITIONS = """
(function_definition declarator: (function_declarator declarator: (_) @name)) @function
(function_definition declarator: (reference_declarator
  (function_declarator declarator: (_) @name))) @function
(function_definition declarator: (pointer_declarator
  declarator: (function_declarator declarator: (_) @name))) @function
(field_declaration declarator: (function_declarator declarator: (_) @name)) @method
(class_specifier name: (_) @name body: (_)) @class
(struct_specifier name: (_) @name body: (_)) @struct
(enum_specifier name: (_) @name body: (_)) @enum
(namespace_definition name: (_) @name) @scope
"""
IMPORTS = c.IMPORTS
SECTION = c.SECTION
section_public = c.section_public
module_keys = c.module_keys
import_keys = c.import_keys


def grammar():
    import tree_sitter_cpp

    return tree_sitter_cpp.language()


def is_public(node, name: str, context) -> bool:
    parent = node.parent
    if parent is not None and parent.type == "field_declaration_list":
        owner = parent.parent
        access = b"public" if owner is not None and owner.type == "struct_specifier" else b"private"
        for sibling in parent.children:
            if sibling == node:
                break
            if sibling.type == "access_specifier":
                access = sibling.text
        return access == b"public"
    return c.is_public(node, name, context)
