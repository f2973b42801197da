"""Python: `def`/`class`; public = no leading underscore (dunders are public) and in `__all__`."""

from __future__ import annotations

import re

NAME = "python"
EXTENSIONS = (".py", ".pyi")
SUBMODULE_SEPARATOR = "."  # `from pkg import mod` may import the module pkg.mod

DEFINITIONS = """
(function_definition name: (identifier) @name) @function
(class_definition name: (identifier) @name) @class
"""
IMPORTS = """
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement module_name: (_) @import name: (dotted_name) @symbol)
(import_from_statement module_name: (_) @import name: (aliased_import name: (dotted_name) @symbol))
(import_from_statement module_name: (_) @import (wildcard_import) @symbol)
"""
SECTION = re.compile(r"^\s*(?:async\s+)?(?P<kind>def|class)\s+(?P<name>\w+)")
_ALL = re.compile(rb"^__all__\s*\+?=\s*[\[(]([^\])]*)", re.MULTILINE)
# Comments and string literals (any prefix: an escaped quote ends none of them), or the keyword.
_TOKENS = re.compile(rb"""
    \#[^\n]*
  | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
  | '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
  | "[^"\\\n]*(?:\\.[^"\\\n]*)*"
  | '[^'\\\n]*(?:\\.[^'\\\n]*)*'
  | ["'](?P<open>)  # a string not closed where it should be: the file does not parse
  | import""", re.VERBOSE | re.DOTALL)
# (Each alternative begins with a character, not a group: `re` then skips to the positions
# where one may begin instead of trying them all at each byte, 15% of the fan-in scan.)
_BEFORE_IMPORT = re.compile(rb"[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?")  # what may lead its line
_NAMES = re.compile(rb"[ \t]*\((?:[^()#]|\#[^\n]*)*\)|(?:[^\n\\#]|\\.)*", re.DOTALL)
_KEYWORD = re.compile(rb"(?<![\w.])import(?!\w)")
_DEFINES = re.compile(rb"\b(?:def|class)(?:\s|\\\r?\n)+\Z")  # just before a defined name


def grammar():
    import tree_sitter_python

    return tree_sitter_python.language()


def import_statements(source: bytes) -> bytes | None:
    """The file's import statements alone, one per line, dedented: parsed instead of the whole
    file when only imports are wanted (the fan-in index), for the same imports at a fraction of
    the parse. None when a statement is not where this scan can be sure of it (`if x: import
    y`, a backslash before `from`, a keyword it cannot place): then the whole file is parsed.

    The scan skips comments and string literals up to the last `import` in the file, so an
    import shown in a docstring is not one."""
    last = source.rfind(b"import")
    statements = []
    position = 0
    for token in _TOKENS.finditer(source):
        start = token.start()
        if start > last:
            break
        if token.lastgroup == "open":
            return None
        if start < position or source[start:start + 1] != b"i":
            continue  # a comment, a string, or a name within the statement just taken
        if _KEYWORD.match(source, start) is None:
            continue  # part of a name: `reimport`, `important`
        line = source.rfind(b"\n", 0, start) + 1
        if (_BEFORE_IMPORT.fullmatch(source, line, start) is None
                or source[max(line - 3, 0):line].rstrip(b"\r\n").endswith(b"\\")):
            return None
        position = _NAMES.match(source, start + 6).end()
        statements.append(source[line:position].lstrip(b" \t"))
    return b"\n".join(statements) + b"\n" if statements else b""


def may_define(source: bytes, name: str) -> bool:
    """Whether `source` may define `name` (a `def` or `class` of it, as DEFINITIONS finds): a
    file that cannot is not parsed when looking for the definition. Each use of the name is
    looked at (a plain find), not the whole file with a regex."""
    word = name.encode()
    position = source.find(word)
    while position >= 0:
        if _DEFINES.search(source, max(0, position - 64), position):
            end = position + len(word)
            if not source[end:end + 1].isalnum() and source[end:end + 1] != b"_":
                return True
        position = source.find(word, position + 1)
    return False


def module_context(root, source: bytes) -> set[str] | None:
    if b"__all__" not in source:
        return None
    names = [re.findall(rb"[\"'](\w+)[\"']", m.group(1)) for m in _ALL.finditer(source)]
    return {n.decode() for group in names for n in group} if names else None


def _public_name(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def is_public(node, name: str, context) -> bool:
    top_level = node.parent is not None and (
        node.parent.type == "module"
        or (node.parent.type == "decorated_definition" and node.parent.parent.type == "module")
    )
    if top_level and context is not None:
        return name in context
    return _public_name(name)


def section_public(name: str, line: str) -> bool:
    return _public_name(name)


def module_keys(path: str) -> list[str]:
    parts = path.rsplit(".", 1)[0].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ["/".join(parts)] if parts else []


def import_keys(spec: str, importer: str) -> list[str]:
    if spec.startswith("."):
        level = len(spec) - len(spec.lstrip("."))
        package = importer.split("/")[:-1]
        if level > 1:
            package = package[: len(package) - (level - 1)]
        rest = [p for p in spec.lstrip(".").split(".") if p]
        return ["/".join(package + rest)] if package or rest else []
    return [spec.replace(".", "/")]
