"""JavaScript (and the shared JS/TS rules): public = `export`ed, CommonJS exports included."""

from __future__ import annotations

import re

from cartriage.analysis.languages import relative, strip_suffix, suffixes

NAME = "javascript"
FAMILY = "js"
EXTENSIONS = (".js", ".mjs", ".cjs", ".jsx")

DEFINITIONS = """
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(class_declaration name: (identifier) @name) @class
(method_definition name: (_) @name) @method
(variable_declarator name: (identifier) @name
  value: [(arrow_function) (function_expression)]) @function
"""
IMPORTS = """
(import_statement source: (string) @import)
(import_statement (import_clause (named_imports (import_specifier name: (_) @symbol)))
  source: (string) @import)
(export_statement source: (string) @import)
(call_expression function: (identifier) @_f arguments: (arguments . (string) @import)
  (#any-of? @_f "require"))
(call_expression function: (import) arguments: (arguments . (string) @import))
"""
SECTION = re.compile(
    r"(?:(?P<kind>function|class)\s*\*?\s*(?P<name>[\w$]+))"
    r"|(?:(?P<name2>[\w$]+)\s*[:=]\s*(?:async\s*)?(?:function\b|\([^)]*\)\s*=>))"
)
_EXPORTS = re.compile(rb"(?:module\.)?exports\.([\w$]+)\s*=|export\s*\{([^}]*)\}")
_MODULE_EXPORTS = re.compile(rb"module\.exports\s*=\s*\{([^}]*)\}")
_ROUTES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".vue", ".svelte")


def grammar():
    import tree_sitter_javascript

    return tree_sitter_javascript.language()


def module_context(root, source: bytes) -> set[str]:
    names = set()
    for match in _EXPORTS.finditer(source):
        if match.group(1):
            names.add(match.group(1).decode())
        else:
            names.update(_names(match.group(2)))
    for match in _MODULE_EXPORTS.finditer(source):
        names.update(_names(match.group(1)))
    return names


def _names(clause: bytes) -> set[str]:
    out = set()
    for part in clause.decode(errors="replace").split(","):
        words = part.split()
        if words:
            out.add(words[0].split(":")[0])
    return out


def _exported(node) -> bool:
    for _ in range(3):
        node = node.parent
        if node is None:
            return False
        if node.type == "export_statement":
            return True
        if node.type not in ("variable_declarator", "lexical_declaration",
                             "variable_declaration"):
            return False
    return False


def is_public(node, name: str, context) -> bool:
    if node.type in ("method_definition", "method_signature", "abstract_method_signature",
                     "public_field_definition"):
        if name.startswith("#"):
            return False
        return not any(c.type == "accessibility_modifier" and c.text in (b"private", b"protected")
                       for c in node.children)
    return _exported(node) or name in (context or ())


def section_public(name: str, line: str) -> bool:
    return "export" in line.split()


def module_keys(path: str) -> list[str]:
    stem = strip_suffix(path)
    keys = [stem]
    if stem.endswith("/index"):
        keys.append(stem[: -len("/index")])
    return keys


def import_keys(spec: str, importer: str) -> list[str]:
    if spec.startswith("."):
        resolved = relative(importer, spec)
        return [strip_suffix(resolved) if resolved.endswith(_ROUTES) else resolved]
    for alias in ("@/", "~/", "#/", "@@/", "$lib/"):
        if spec.startswith(alias):
            return suffixes(spec[len(alias):].split("/"), minimum=len(spec.split("/")) - 1)[:1]
    parts = spec.split("/")
    if len(parts) < 2 or spec.startswith("@") and len(parts) < 3:
        return []  # a package name: not a file of this repository
    return ["/".join(parts)]
