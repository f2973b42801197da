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
_SKIPPED = re.compile(rb"(?:[ \t\r\n\f\v]+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)  # space, comments
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
_WORD_AT = re.compile(rb"[\w$]*")
_KEYWORDS_BEFORE = (b"function", b"class", b"interface", b"type", b"enum", b"namespace",
                    b"module")
_LIST_TOKEN = re.compile(rb"[()'\"`/]")  # what a parameter list's reading stops at
_STRING = re.compile(rb"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*\"""", re.DOTALL)


def grammar():
    import tree_sitter_javascript

    return tree_sitter_javascript.language()


def may_define(source: bytes, name: str, typescript: bool = False) -> bool:
    """Whether `source` may define `name` as DEFINITIONS finds it: a file that cannot is not
    parsed when looking for the definition. Only the uses of the word are looked at: one is
    a definition's name only when a keyword (`function`, `class`, ...) comes before it, or
    what follows is what a declaration needs: a parameter list then `{` (a function or
    method), `{` or `extends` (a class), `=` then a function or arrow (a declarator). In
    TypeScript also `(`, `<`, `:`, `!`, `?`, `=` and `implements` (signatures, generics,
    types). Anything this scan cannot read for sure (a comment before the name, non-ASCII
    bytes next to it, a template string or `/` in the parameters) counts as may."""
    word = name.encode()
    position = source.find(word)
    while position >= 0:
        end = position + len(word)
        before = source[position - 1] if position else 0x0A
        after = source[end] if end < len(source) else 0x0A
        if before >= 0x80 or after >= 0x80:
            return True
        if (before not in _WORD_BYTES and after not in _WORD_BYTES
                and _names_definition(source, position, end, typescript)):
            return True
        position = source.find(word, position + 1)
    return False


def _names_definition(source: bytes, start: int, end: int, typescript: bool) -> bool:
    """Whether the word at `start:end` may be a definition's name (`may_define`)."""
    if source[start - 1:start] == b"." and not typescript:  # a member (`a.name`), a spread
        return False
    head = source[max(0, start - 64):start].rstrip()
    if head.endswith((b"*", b"/")) or head[-1:] >= b"\x80":
        return True
    if head.endswith(_KEYWORDS_BEFORE):  # also as the end of a longer word: may
        return True
    at = _SKIPPED.match(source, end).end()
    follower = source[at:at + 1]
    if follower in (b"/", b"{") or follower >= b"\x80":
        return True
    if follower == b"(":
        return typescript or _body_after(source, at)
    if follower == b"=":
        return source[at + 1:at + 2] not in (b"=", b">") and (
            typescript or _function_value(source, at + 1))
    if typescript and follower in (b"<", b":", b"!", b"?"):
        return True
    following = _WORD_AT.match(source, at).group()
    return following == b"extends" or typescript and following == b"implements"


def _body_after(source: bytes, at: int) -> bool:
    """Whether the parenthesised list at `at` may be followed by a body `{` (a function or
    method); True also when the list cannot be read for sure (a template string, a `/`
    that starts no comment: a regex may hold a parenthesis)."""
    depth, position = 0, at
    while (found := _LIST_TOKEN.search(source, position)) is not None:
        position = found.start()
        char = found.group()
        if char in (b"'", b'"'):
            string = _STRING.match(source, position)
            if string is None:
                return True
            position = string.end()
            continue
        if char == b"/":
            skipped = _SKIPPED.match(source, position).end()
            if skipped == position:
                return True
            position = skipped
            continue
        if char == b"`":
            return True
        if char == b"(":
            depth += 1
        elif char == b")":
            depth -= 1
            if depth == 0:
                after = _SKIPPED.match(source, position + 1).end()
                body = source[after:after + 1]
                return body in (b"{", b"/") or body >= b"\x80"
        position += 1
    return True


def _function_value(source: bytes, at: int) -> bool:
    """Whether the value after a declarator's `=` at `at` may be a function or an arrow."""
    at = _SKIPPED.match(source, at).end()
    first = source[at:at + 1]
    if first in (b"(", b"/") or first >= b"\x80":
        return True
    value = _WORD_AT.match(source, at).group()
    if not value:
        return False
    if value in (b"function", b"async"):
        return True
    after = _SKIPPED.match(source, at + len(value)).end()
    return source[after:after + 2] == b"=>"


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
