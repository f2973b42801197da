"""Ruby: classes, modules, methods; public = not after `private`/`protected` (nor `private def`)."""

from __future__ import annotations

import re

from cartriage.analysis.languages import relative

NAME = "ruby"
EXTENSIONS = (".rb", ".rake", ".gemspec", ".ru")

DEFINITIONS = """
(class name: (_) @name) @class
(module name: (_) @name) @module
(method name: (_) @name) @method
(singleton_method name: (_) @name) @method
"""
IMPORTS = """
(call method: (identifier) @_m arguments: (argument_list . (string) @import)
  (#any-of? @_m "require" "require_relative" "load" "autoload"))
"""
SECTION = re.compile(
    r"^\s*(?:(?P<kind>class|module)\s+(?P<name>[\w:]+)|def\s+(?:self\.)?(?P<name2>[\w?!=]+))"
)
_HIDING = (b"private", b"protected")


def grammar():
    import tree_sitter_ruby

    return tree_sitter_ruby.language()


def is_public(node, name: str, context) -> bool:
    parent = node.parent
    if parent is not None and parent.type == "argument_list":  # private def x
        call = parent.parent
        method = call.child_by_field_name("method") if call is not None else None
        return not (method is not None and method.text in _HIDING)
    if node.type != "method" or parent is None:
        return True
    visible = True
    for sibling in parent.children:
        if sibling == node:
            break
        if sibling.type == "identifier" and sibling.text in (*_HIDING, b"public"):
            visible = sibling.text == b"public"
        if sibling.type == "call":
            method = sibling.child_by_field_name("method")
            args = sibling.child_by_field_name("arguments")
            if method is not None and method.text in _HIDING and args is not None and (
                f":{name}".encode() in args.text or f'"{name}"'.encode() in args.text
            ):
                return False
    if visible and parent.next_sibling is not None:
        tail = parent.text[node.end_byte - parent.start_byte:]
        if re.search(rb"\bprivate\s+:" + re.escape(name.encode()) + rb"\b", tail):
            return False
    return visible


def section_public(name: str, line: str) -> bool:
    return "private" not in line.split()


def module_keys(path: str) -> list[str]:
    return [path.rsplit(".", 1)[0]]


def import_keys(spec: str, importer: str) -> list[str]:
    spec = spec.removesuffix(".rb")
    if spec.startswith("."):
        return [relative(importer, spec)]
    here = relative(importer, spec)
    return [here, spec] if "/" in spec else [here]
