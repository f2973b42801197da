"""Go: functions, methods (qualified by receiver type), types; public = capitalised."""

from __future__ import annotations

import re

from cartriage.analysis.languages import suffixes

NAME = "go"
EXTENSIONS = (".go",)

DEFINITIONS = """
(function_declaration name: (identifier) @name) @function
(method_declaration
  receiver: (parameter_list (parameter_declaration type: (_) @receiver))
  name: (field_identifier) @name) @method
(type_spec name: (type_identifier) @name type: (struct_type)) @struct
(type_spec name: (type_identifier) @name type: (interface_type)) @interface
"""
IMPORTS = """
(import_spec path: (_) @import)
"""
_SECTION_RECEIVER = re.compile(r"func\s*\([^)]*?\*?\s*(\w+)\s*(?:\[[^\]]*\])?\s*\)")
_RECEIVER = re.compile(r"\*?\s*(\w+)\s*(?:\[[^\]]*\])?\s*\)$")
SECTION = re.compile(
    r"^\s*(?:func\s+(?:\(\s*\w*\s*\*?(?P<owner>\w+)[^)]*\)\s*)?(?P<name>\w+)"
    r"|type\s+(?P<name2>\w+)\s+(?P<kind>struct|interface))"
)


def grammar():
    import tree_sitter_go

    return tree_sitter_go.language()


def is_public(node, name: str, context) -> bool:
    """Capitalised; a method also needs an exported receiver type (`func (t *T) M()`)."""
    if node.type == "method_declaration":
        receiver = node.child_by_field_name("receiver")
        found = _RECEIVER.search(receiver.text.decode("utf-8", errors="replace")) if receiver \
            else None
        if found and not found.group(1)[:1].isupper():
            return False
    return name[:1].isupper()


def section_public(name: str, line: str) -> bool:
    found = _SECTION_RECEIVER.match(line.strip())
    if found and not found.group(1)[:1].isupper():
        return False
    return name[:1].isupper()


def module_keys(path: str) -> list[str]:
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    return [folder] if folder else []


def import_keys(spec: str, importer: str) -> list[str]:
    parts = spec.strip('"`').split("/")
    return suffixes(parts, minimum=2) if len(parts) > 1 else []
