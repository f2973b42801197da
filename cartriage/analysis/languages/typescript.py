"""TypeScript and TSX: the JavaScript rules plus interfaces, types, enums and `private`."""

from __future__ import annotations

import types

from cartriage.analysis.languages import javascript

NAME = "typescript"
FAMILY = "js"
EXTENSIONS = (".ts", ".mts", ".cts")
VARIANTS = {"typescript": (".ts", ".mts", ".cts"), "tsx": (".tsx",)}

DEFINITIONS = javascript.DEFINITIONS + """
(abstract_class_declaration name: (type_identifier) @name) @class
(interface_declaration name: (type_identifier) @name) @interface
(type_alias_declaration name: (type_identifier) @name) @type
(enum_declaration name: (identifier) @name) @enum
(method_signature name: (_) @name) @method
(abstract_method_signature name: (_) @name) @method
(function_signature name: (identifier) @name) @function
(internal_module name: (_) @name) @module
"""
DEFINITIONS = DEFINITIONS.replace("(class_declaration name: (identifier)",
                                  "(class_declaration name: (type_identifier)")
IMPORTS = javascript.IMPORTS
SECTION = javascript.SECTION
module_context = javascript.module_context
is_public = javascript.is_public
section_public = javascript.section_public
module_keys = javascript.module_keys
import_keys = javascript.import_keys


def may_define(source: bytes, name: str) -> bool:
    """`javascript.may_define` with TypeScript's declarations (signatures, types, generics)."""
    return javascript.may_define(source, name, typescript=True)


def grammar():
    import tree_sitter_typescript

    return tree_sitter_typescript.language_typescript()


def variant(name: str):
    """The TSX variant: same rules, the TSX grammar."""
    import sys

    module = types.ModuleType(f"{__name__}.{name}")
    module.__dict__.update({k: v for k, v in sys.modules[__name__].__dict__.items()
                            if not k.startswith("__")})
    module.NAME = name

    def tsx_grammar():
        import tree_sitter_typescript

        return tree_sitter_typescript.language_tsx()

    module.grammar = tsx_grammar
    return module
