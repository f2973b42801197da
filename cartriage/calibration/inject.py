"""Known defects injected into the added lines of a change, each checked to parse.

Six kinds, each a small rewrite of one added line (or removal of a few): an inverted condition,
an off-by-one boundary or literal, a removed guard or check, a wrong variable, a dropped
await/close/unlock, swapped call arguments. An injection is kept only if tree-sitter parses the
result with no more syntax errors than the original (the new file when the repository has it,
else the hunk's new side), so every injected defect is syntactically valid code.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from cartriage.analysis import languages
from cartriage.intake.change import ChangeSet, FileChange, Hunk

KINDS = ("inverted-condition", "off-by-one", "removed-guard", "wrong-variable", "dropped-call",
         "swapped-arguments")


@dataclass(frozen=True)
class Injection:
    """Lines `index .. index+count` of hunk `hunk` of `path` (all added lines) become `after`."""

    kind: str
    path: str
    hunk: int
    index: int
    count: int
    before: tuple[str, ...]
    after: tuple[str, ...]
    line: int  # the new-file line where the defect sits once injected

    def describe(self) -> str:
        shown = " / ".join(s.strip() for s in self.after) or "(removed)"
        return f"{self.kind} at {self.path}:{self.line}: {self.before[0].strip()!r} -> {shown!r}"


_INVERSE = {"==": "!=", "!=": "==", "===": "!==", "!==": "===", "<": ">=", ">=": "<",
            ">": "<=", "<=": ">"}
_BOUNDARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
_COMPARISON = re.compile(r"(?<=\s)(===|!==|==|!=|<=|>=|<|>)(?=\s)")
_PY_IF = re.compile(r"^(\s*(?:el)?if\s+)(not\s+)?(.+?)(:\s*)$")
_C_IF = re.compile(r"^(\s*(?:\}\s*else\s+)?if\s*\()(!?)(.+)(\)\s*\{?\s*)$")
_LITERAL = re.compile(r"(?<![\w.])(\d{1,3})(?![\w.])")
_INDEX_CONTEXT = re.compile(r"\[|\brange\b|\blen\b|\bsize\b|\blength\b|\s[-+]\s")
_ONE_LINE_GUARD = re.compile(
    r"^\s*(?:if\b.*\b(?:return|raise|throw|continue|break)\b.*|assert\b.*|"
    r"(?:require|check|precondition|invariant)\s*\(.*)$")
_BLOCK_GUARD = re.compile(r"^\s*if\b.*(?::|\{)\s*$")
_GUARD_BODY = re.compile(r"\b(?:return|raise|throw|continue|break|panic)\b")
_RELEASE = re.compile(r"^\s*(?:defer\s+)?[\w.\[\]]+\.(?:close|Close|release|unlock|Unlock|"
                      r"dispose|Dispose|free|commit)\(\)\s*;?\s*$")
_AWAIT = re.compile(r"\bawait\s+")
_TWO_ARGS = re.compile(r"(\b[A-Za-z_][\w.]*\()\s*([^(),\"'\n]+?)\s*,\s*([^(),\"'\n]+?)\s*\)")
_NAME = re.compile(r"(?<![\w.$])([A-Za-z_]\w*)(?![\w(])")
_DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class|function|func|fn|public|private|"
                         r"protected|static)\b")
_KEYWORDS = set(keyword.kwlist) | set(getattr(keyword, "softkwlist", ())) | {
    "self", "this", "cls", "true", "false", "null", "nil", "None", "True", "False", "var", "let",
    "const", "func", "function", "new", "return", "if", "else", "for", "while", "switch", "case",
    "int", "bool", "string", "void", "public", "private", "static", "final", "err", "ctx",
    "await", "async", "defer", "go", "fn", "mut", "pub", "impl", "use", "package", "import"}


def _outside_strings(text: str, position: int) -> bool:
    before = text[:position]
    return before.count('"') % 2 == 0 and before.count("'") % 2 == 0 and "#" not in before \
        and "//" not in before


def _inverted(text: str) -> str | None:
    match = _PY_IF.match(text)
    if match and not _COMPARISON.search(match.group(3)):
        head, negated, condition, tail = match.groups()
        return f"{head}{condition}{tail}" if negated else f"{head}not ({condition}){tail}"
    match = _C_IF.match(text)
    if match and not _COMPARISON.search(match.group(3)):
        head, negated, condition, tail = match.groups()
        return f"{head}{condition}{tail}" if negated else f"{head}!({condition}){tail}"
    for found in _COMPARISON.finditer(text):
        if _outside_strings(text, found.start()):
            op = found.group(1)
            return text[:found.start()] + _INVERSE[op] + text[found.end():]
    return None


def _off_by_one(text: str) -> str | None:
    for found in _COMPARISON.finditer(text):
        op = found.group(1)
        if op in _BOUNDARY and _outside_strings(text, found.start()):
            return text[:found.start()] + _BOUNDARY[op] + text[found.end():]
    if not _INDEX_CONTEXT.search(text):
        return None
    for found in _LITERAL.finditer(text):
        if _outside_strings(text, found.start()):
            return text[:found.start()] + str(int(found.group(1)) + 1) + text[found.end():]
    return None


def _swapped(text: str) -> str | None:
    for found in _TWO_ARGS.finditer(text):
        call, first, second = found.groups()
        if first != second and "=" not in first + second and _outside_strings(text, found.start()):
            return text[:found.start()] + f"{call}{second}, {first})" + text[found.end():]
    return None


def _dropped_await(text: str) -> str | None:
    found = _AWAIT.search(text)
    if found and _outside_strings(text, found.start()):
        return text[:found.start()] + text[found.end():]
    return None


def _names(lines: list[str]) -> list[str]:
    names: dict[str, None] = {}
    for text in lines:
        for found in _NAME.finditer(text):
            name = found.group(1)
            if len(name) > 1 and name not in _KEYWORDS and _outside_strings(text, found.start()):
                names[name] = None
    return list(names)


def _wrong_variable(text: str, names: list[str]) -> str | None:
    on_line = [f for f in _NAME.finditer(text) if f.group(1) in names]
    # Prefer a name that is read (right of `=`, or in a condition), not the one assigned.
    for found in sorted(on_line, key=lambda f: -f.start()):
        name = found.group(1)
        others = [n for n in names if n != name and n not in text and _alike(n, name)]
        if others and _outside_strings(text, found.start()):
            return text[:found.start()] + others[0] + text[found.end():]
    return None


def _alike(a: str, b: str) -> bool:
    """Same naming shape (both CONSTANT, both CamelCase or both lower): a plausible mix-up."""
    def shape(n: str) -> str:
        return "upper" if n.isupper() else "camel" if n[:1].isupper() else "lower"

    return shape(a) == shape(b)


Rewrite = Callable[[str], "str | None"]
_ONE_LINE: dict[str, Rewrite] = {
    "inverted-condition": _inverted,
    "off-by-one": _off_by_one,
    "swapped-arguments": _swapped,
}


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _guard_span(lines: tuple[str, ...], index: int) -> int:
    """How many lines from `index` make a removable guard (0: none). All must be added lines:
    a one-line guard or check, or an `if` whose short body returns, raises or breaks."""
    text = lines[index][1:]
    if _ONE_LINE_GUARD.match(text):
        return 1
    if not _BLOCK_GUARD.match(text):
        return 0
    depth, end = _indent(text), index + 1
    while end < len(lines) and end - index <= 4 and lines[end][:1] == "+":
        if lines[end][1:].strip() and _indent(lines[end][1:]) <= depth:
            break
        end += 1
    body = [line[1:] for line in lines[index + 1:end]]
    after = lines[end][1:] if end < len(lines) else ""
    if not body or not any(_GUARD_BODY.search(b) for b in body) or not after.strip() \
            or _indent(after) > depth:
        return 0
    if text.rstrip().endswith("{"):
        closes = lines[end][:1] == "+" and after.strip() == "}" and _indent(after) == depth
        return end - index + 1 if closes else 0
    return end - index


def sites(hunk: Hunk) -> Iterator[tuple[str, int, int, tuple[str, ...]]]:
    """Every (kind, index, count, new lines) rewrite the operators find in the hunk's added
    lines, before any syntax check."""
    lines = hunk.lines
    names = _names([line[1:] for line in lines if line[:1] == "+"])
    for index, line in enumerate(lines):
        if line[:1] != "+" or not line[1:].strip():
            continue
        text = line[1:]
        definition = bool(_DEFINITION.match(text))
        for kind, rewrite in _ONE_LINE.items():
            new = None if definition and kind == "swapped-arguments" else rewrite(text)
            if new is not None and new != text:
                yield kind, index, 1, (new,)
        new = None if definition else _wrong_variable(text, names)
        if new is not None:
            yield "wrong-variable", index, 1, (new,)
        new = _dropped_await(text)
        if new is not None:
            yield "dropped-call", index, 1, (new,)
        elif _RELEASE.match(text):
            yield "dropped-call", index, 1, ()
        span = _guard_span(lines, index)
        if span:
            yield "removed-guard", index, span, ()


def candidates(file: FileChange, hunk_indexes: tuple[int, ...],
               new_text: str | None) -> list[Injection]:
    """Injections into the given hunks of `file` that parse as well as the original.

    `new_text` is the whole new file when known; otherwise each hunk's new side is parsed.
    Empty when the file's language has no tree-sitter grammar here.
    """
    language = languages.get(languages.detect(file.path) or "")
    if language is None or file.binary or file.status == "deleted":
        return []
    found = []
    for number in hunk_indexes:
        hunk = file.hunks[number]
        original = new_text if new_text is not None else _new_side(hunk.lines)
        baseline = _errors(language, original)
        for kind, index, count, after in sites(hunk):
            injection = Injection(kind, file.path, number, index, count,
                                  tuple(line[1:] for line in hunk.lines[index:index + count]),
                                  after, _new_line(hunk, index))
            lines = _rewritten(hunk.lines, injection)
            if new_text is not None:
                mutated = _rewrite_file(new_text, injection)
            else:
                mutated = _new_side(lines)
            if mutated is not None and _errors(language, mutated) <= baseline:
                found.append(injection)
    return found


def inject(change: ChangeSet, injection: Injection) -> ChangeSet:
    """The change with the injection applied to its diff (later hunks' line numbers shift)."""
    files = []
    for file in change.files:
        if file.path != injection.path:
            files.append(file)
            continue
        delta = len(injection.after) - injection.count
        hunks = []
        for number, hunk in enumerate(file.hunks):
            if number == injection.hunk:
                hunk = replace(hunk, lines=_rewritten(hunk.lines, injection),
                               new_count=hunk.new_count + delta)
            elif number > injection.hunk:
                hunk = replace(hunk, new_start=hunk.new_start + delta)
            hunks.append(hunk)
        files.append(replace(file, hunks=tuple(hunks), added=file.added + delta, new_blob=None))
    return replace(change, files=tuple(files))


def _rewritten(lines: tuple[str, ...], injection: Injection) -> tuple[str, ...]:
    end = injection.index + injection.count
    return (*lines[:injection.index], *("+" + text for text in injection.after), *lines[end:])


def _new_line(hunk: Hunk, index: int) -> int:
    number = hunk.new_start
    for line in hunk.lines[:index]:
        if line[:1] in "+ ":
            number += 1
    return number


def _new_side(lines: tuple[str, ...]) -> str:
    return "\n".join(line[1:] for line in lines if line[:1] in "+ ") + "\n"


def _rewrite_file(text: str, injection: Injection) -> str | None:
    lines = text.split("\n")
    start = injection.line - 1
    if lines[start:start + injection.count] != list(injection.before):
        return None  # the diff and the file disagree: do not guess
    return "\n".join([*lines[:start], *injection.after, *lines[start + injection.count:]])


_EMPTY_BLOCKS: dict[str, object] = {}


def _errors(language, text: str) -> int:
    """Syntax errors tree-sitter finds: ERROR and MISSING nodes, and (Python) empty blocks,
    which its grammar accepts but Python does not."""
    root = language.parser().parse(text.encode("utf-8", errors="replace")).root_node
    count = 0
    if language.name == "python":
        if "python" not in _EMPTY_BLOCKS:
            from tree_sitter import Query

            _EMPTY_BLOCKS["python"] = Query(language.grammar(), "(block) @block")
        from tree_sitter import QueryCursor

        blocks = QueryCursor(_EMPTY_BLOCKS["python"]).captures(root).get("block", [])
        count += sum(1 for block in blocks if block.named_child_count == 0)
    if not root.has_error:
        return count
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            count += 1
        stack.extend(child for child in node.children if child.has_error or child.is_missing)
    return count
