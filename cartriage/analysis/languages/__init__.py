"""Language modules: one small module per language, all sharing one protocol.

A language module (e.g. `languages/python.py`) defines:

- `NAME`, `EXTENSIONS` and `FAMILY` (languages of one family can import each other: js/ts);
- `grammar()` -> `tree_sitter.Language`, from the grammar wheel installed with cartriage;
- `DEFINITIONS`: a tree-sitter query. Each pattern captures one definition node under the name of
  its kind (`@function`, `@method`, `@class`, `@interface`, `@struct`, `@enum`, `@trait`,
  `@module`, `@type`) and its `@name`; `@receiver` (Go) qualifies a method by its type;
  `@container` (Rust `impl`: members are methods) and `@scope` (namespaces) patterns only
  qualify the names inside them;
- `IMPORTS`: a query capturing each imported module as `@import` and names imported from it as
  `@symbol`;
- `is_public(node, name, context)` -> bool, by the language's convention, where `context` is what
  `module_context(root, source)` returned for the file (e.g. Python's `__all__`);
- `SECTION`: a regex over a hunk header (`@@ ... @@ def f(x):`) with groups `name` and optionally
  `owner`/`kind`, and `section_public(name, text)`, for diffs without file contents;
- `module_keys(path)` and `import_keys(spec, importer)`: the keys under which a file can be
  imported and the candidate keys of an import, best first; the fan-in index joins them.
"""

from __future__ import annotations

import importlib
import posixpath
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import ModuleType

from cartriage.intake.language import guess_language

MODULES = ("python", "javascript", "typescript", "go", "rust", "java", "ruby", "c", "cpp",
           "csharp", "php")

@dataclass
class Language:
    """A loaded language module with its parser and compiled queries (built on first use)."""

    module: ModuleType
    _parser: object = None
    _queries: dict[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.module.NAME

    @property
    def family(self) -> str:
        return getattr(self.module, "FAMILY", self.module.NAME)

    def parser(self):
        if self._parser is None:
            from tree_sitter import Parser

            self._parser = Parser(self.grammar())
        return self._parser

    def grammar(self):
        return _grammar(self.module)

    def query(self, which: str):
        """The compiled DEFINITIONS or IMPORTS query, or OUTLINE: both in one (one walk of the
        tree instead of two; its first `query("DEFINITIONS").pattern_count` patterns are the
        definitions)."""
        if which not in self._queries:
            from tree_sitter import Query

            source = (self.module.DEFINITIONS + "\n" + self.module.IMPORTS
                      if which == "OUTLINE" else getattr(self.module, which))
            self._queries[which] = Query(self.grammar(), source)
        return self._queries[which]


_GRAMMARS: dict[str, object] = {}
_LOADED: dict[str, Language] = {}
_BY_EXTENSION: dict[str, str] = {}


def _grammar(module: ModuleType):
    key = f"{module.__name__}:{module.NAME}"
    if key not in _GRAMMARS:
        from tree_sitter import Language as TSLanguage

        _GRAMMARS[key] = TSLanguage(module.grammar())
    return _GRAMMARS[key]


def _extensions() -> dict[str, str]:
    if not _BY_EXTENSION:
        for name in MODULES:
            module = importlib.import_module(f"cartriage.analysis.languages.{name}")
            for variant, extensions in _variants(module).items():
                for ext in extensions:
                    _BY_EXTENSION[ext] = variant
    return _BY_EXTENSION


def extensions() -> list[str]:
    """Every extension `detect` knows (lower case, with the dot)."""
    return sorted(_extensions())


def _variants(module: ModuleType) -> dict[str, tuple[str, ...]]:
    """Language name -> extensions; a module may serve variants (typescript and tsx)."""
    return getattr(module, "VARIANTS", None) or {module.NAME: module.EXTENSIONS}


def get(name: str) -> Language | None:
    """The language module for a parseable language name, or None."""
    if name in _LOADED:
        return _LOADED[name]
    module_name = {"tsx": "typescript"}.get(name, name)
    if module_name not in MODULES:
        return None
    module = importlib.import_module(f"cartriage.analysis.languages.{module_name}")
    if name != module.NAME:
        module = module.variant(name)
    _LOADED[name] = Language(module)
    return _LOADED[name]


def detect(path: str) -> str | None:
    """The parseable language of `path` by its extension, or None."""
    return _extensions().get(posixpath.splitext(path)[1].lower())


def recognise(path: str) -> str | None:
    """A language name for any file cartriage knows by name: parseable or role-only."""
    return detect(path) or guess_language(path)


# Helpers the language modules share.

def has_child(node, *types: str) -> bool:
    return any(child.type in types for child in node.children)


def suffixes(parts: list[str], minimum: int = 1) -> list[str]:
    """'a/b/c' -> ['a/b/c', 'b/c', 'c'] (down to `minimum` components): longest first."""
    parts = [p for p in parts if p]
    return ["/".join(parts[i:]) for i in range(0, max(len(parts) - minimum + 1, 0))]


def relative(importer: str, spec: str) -> str:
    """`spec` (./x, ../y) resolved against the importer's folder, normalised."""
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
    return "" if joined.startswith("..") or joined == "." else joined


def strip_suffix(path: str) -> str:
    stem = str(PurePosixPath(path).with_suffix(""))
    return stem[:-2] if stem.endswith(".d") else stem

