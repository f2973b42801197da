"""Definitions and imports from tree-sitter, and which of them a change touches.

Two modes: with both versions of a file (a repository is known) the whole files are parsed;
with a diff alone each hunk's old and new fragments are parsed, and the hunk header
(`@@ ... @@ def handler(request):`) names the enclosing definition the fragment cannot show.
"""

from __future__ import annotations

import heapq
import operator
import re
from dataclasses import dataclass, field, replace
from itertools import accumulate, count, islice

from cartriage.analysis.facts import Symbol
from cartriage.analysis.languages import Language
from cartriage.intake.change import FileChange, Hunk

# Tree-sitter's queries over brackets nested thousands deep (one line of 200,000 `(`) take
# minutes; real code nests a few dozen deep.
MAX_NESTING = 1_000
_STEPS = bytes.maketrans(b"([{)]}", b"\x02\x02\x02\x00\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"()[]{}")
CLASS_LIKE = frozenset({"class", "interface", "struct", "enum", "trait", "module", "type",
                        "container"})
_SECTION_KINDS = {"def": "function", "fn": "function", "func": "function",
                  "function": "function", "record": "class", "impl": "class"}
_NOT_NAMES = frozenset({"if", "for", "while", "switch", "catch", "return", "synchronized", "new",
                        "else", "foreach", "using", "lock", "sizeof", "defined", "elif"})
_GENERICS = re.compile(r"<[^<>]*>|\[[^\[\]]*\]")


@dataclass(frozen=True, slots=True)
class Definition:
    """A definition in one version of a file; lines are 1-based and inclusive."""

    name: str
    kind: str
    start: int
    end: int
    public: bool
    signature: str


@dataclass(frozen=True, slots=True)
class Import:
    """An imported module as written (`..models`, `./util`, `crypto/sha256`) and names from it."""

    spec: str
    symbols: tuple[str, ...] = ()


@dataclass
class Outline:
    definitions: list[Definition] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    syntax_error: bool = False


def outline(language: Language, source: bytes, definitions: bool = True,
            imports: bool = True, reduce: bool = True, tree=None) -> Outline:
    """Parse `source` and extract its definitions and/or imports.

    For imports alone, a language module's `import_statements` (when it has one and `reduce`)
    gives the parser the file's import statements instead of the whole file; `syntax_error`
    then speaks of those. `tree`: `source`'s tree, already parsed (`trees.parse`)."""
    from tree_sitter import QueryCursor

    statements = getattr(language.module, "import_statements", None) if reduce else None
    if imports and not definitions and statements is not None and tree is None:
        reduced = statements(source)  # None: the scan cannot be sure of every statement
        source = source if reduced is None else reduced
    if _nesting(source) > MAX_NESTING:  # no outline: its queries could take minutes
        return Outline(syntax_error=True)
    root = (tree or language.parser().parse(source)).root_node
    result = Outline(syntax_error=root.has_error)
    if definitions and imports:
        split = language.query("DEFINITIONS").pattern_count
        matches = QueryCursor(language.query("OUTLINE")).matches(root)
        result.definitions = _definitions(language, root, source,
                                          [m for m in matches if m[0] < split])
        result.imports = _imports(m for m in matches if m[0] >= split)
    elif definitions:
        matches = QueryCursor(language.query("DEFINITIONS")).matches(root)
        result.definitions = _definitions(language, root, source, matches)
    elif imports:
        matches = QueryCursor(language.query("IMPORTS")).matches(root)
        result.imports = _imports(matches)
    return result


# Languages whose outline can be made from the old version's (`outline_edited`): their
# DEFINITIONS patterns name no enclosing node, so a top-level statement's definitions come
# from its subtree alone, and an import is a statement holding the keyword `import`.
EDITABLE = frozenset({"python"})
_IMPORT = re.compile(rb"import(?<!\wimport)(?!\w)")  # the keyword: no word character by it


def outline_edited(language: Language, source: bytes, tree, old: tuple[bytes, object],
                   old_outline: Outline, hunks) -> Outline | None:
    """`outline(language, source, tree=tree)` of a new version reparsed from the old one
    (`trees.reparse`: `old` is the old source and its tree, edited) without querying the
    whole tree: the definitions of the top-level statements that `hunks` or the reparse
    (`changed_ranges`) touch are queried, the old outline's others are moved by the lines
    the hunks before them add or remove, and the imports are queried in the statements that
    hold the keyword `import`. None when that may differ from the whole outline (a syntax
    error, another `__all__`, a language not in EDITABLE): the caller outlines it whole."""
    from tree_sitter import QueryCursor

    module = language.module
    root = tree.root_node
    if (language.name not in EDITABLE or old_outline.syntax_error or root.has_error
            or _nesting(source) > MAX_NESTING
            or module.module_context(None, old[0]) != module.module_context(root, source)):
        return None
    spans = [(h.old_start - 1 if h.old_count else h.old_start, h.old_count,
              h.new_start - 1 if h.new_count else h.new_start, h.new_count) for h in hunks]
    # Rows (0-based, inclusive) touched, one more either side of each hunk to be safe.
    touched = [(new_first - 1, new_first + new_count) for _, _, new_first, new_count in spans]
    touched += [(r.start_point[0], r.end_point[0]) for r in old[1].changed_ranges(tree)]
    dirty = [node for node in root.children if any(
        start <= node.end_point[0] and node.start_point[0] <= end for start, end in touched)]
    rows = [(node.start_point[0], node.end_point[0]) for node in dirty]
    definitions = []
    for d in old_outline.definitions:
        shift, kept = 0, True
        for old_first, old_count, _, new_count in spans:
            if old_first + old_count < d.start - 1:  # the hunk ends before the definition
                shift += new_count - old_count
            else:  # it overlaps the definition, is next to it, or comes after it
                kept = old_first - 1 > d.end - 1
                break
        start, end = d.start - 1 + shift, d.end - 1 + shift
        if kept and not any(a <= end and start <= b for a, b in rows):
            definitions.append(d if not shift else Definition(
                d.name, d.kind, d.start + shift, d.end + shift, d.public, d.signature))
    query = QueryCursor(language.query("DEFINITIONS"))
    matches = [match for node in dirty for match in query.matches(node)]
    definitions += _definitions(language, root, source, matches)
    definitions.sort(key=lambda d: (d.start, -d.end))
    query = QueryCursor(language.query("IMPORTS"))  # where an import statement may be
    imports = _imports(match for node in root.children
                       if _IMPORT.search(source, node.start_byte, node.end_byte)
                       for match in query.matches(node))
    return Outline(definitions, imports, False)


def _nesting(source: bytes) -> int:
    """How deep brackets nest in `source` (strings and comments included: an upper bound); a
    closing bracket at depth 0 is ignored. Counted without a Python loop per bracket: the
    depth is the running sum of +1/-1 less its lowest point so far when that is below zero."""
    if sum(source.count(b) for b in (b"(", b"[", b"{")) <= MAX_NESTING:
        return 0
    steps = source.translate(_STEPS, _NOT_BRACKETS)  # 2 per opening bracket, 0 per closing
    level = list(map(operator.sub, accumulate(steps), count(1)))  # opened less closed
    floor = islice(accumulate(level, min, initial=0), 1, None)  # min(0, lowest level so far)
    return max(0, max(map(operator.sub, level, floor)))


def _key(node) -> tuple[int, int, str]:
    return node.start_byte, node.end_byte, node.type


def _clean(name: str) -> str:
    name = _GENERICS.sub("", name).replace("::", ".").replace("\\", ".")
    return name.strip("*&: ").split("(")[0].strip()


def _definitions(language: Language, root, source: bytes, matches) -> list[Definition]:
    module = language.module
    found: dict[tuple, tuple[str, str, object]] = {}
    for _, captures in matches:
        kind = next((k for k in captures if k not in ("name", "receiver")
                     and not k.startswith("_")), None)
        if kind is None or "name" not in captures:
            continue
        node = captures[kind][0]
        name = _clean(captures["name"][0].text.decode("utf-8", errors="replace"))
        if "receiver" in captures:
            receiver = _clean(captures["receiver"][0].text.decode("utf-8", errors="replace"))
            name = f"{receiver}.{name}" if receiver else name
        found.setdefault(_key(node), (kind, name, node))
    context_fn = getattr(module, "module_context", None)
    context = context_fn(root, source) if context_fn else None
    out = []
    for kind, name, node in found.values():
        if kind in ("container", "scope"):
            continue
        outer, inside_function = [], False
        public = module.is_public(node, name.split(".")[-1], context)
        parent, nearest = node.parent, None
        while parent is not None:
            hit = found.get(_key(parent))
            if hit is not None:
                outer.append(hit[1])
                if hit[0] != "scope":
                    nearest = nearest or hit[0]
                if hit[0] in ("function", "method"):
                    inside_function = True
                elif hit[0] not in ("container", "scope") and not module.is_public(
                        parent, hit[1], context):
                    public = False
            parent = parent.parent
        if kind == "function" and (nearest in CLASS_LIKE or "." in name):  # C++ `A::f`
            kind = "method"
        qualified = ".".join([*reversed(outer), name])
        out.append(Definition(qualified, kind, node.start_point[0] + 1, node.end_point[0] + 1,
                              public and not inside_function, _signature(node)))
    out.sort(key=lambda d: (d.start, -d.end))
    return out


def _signature(node) -> str:
    """The definition's header (name, parameters, return type, bases), whitespace-normalised."""
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    if body is not None and body.start_byte > node.start_byte:
        raw = node.text[: body.start_byte - node.start_byte]
    else:
        raw = node.text.split(b"\n", 1)[0]
    return " ".join(raw.decode("utf-8", errors="replace").split()).rstrip("{:=> ").strip()


def _imports(matches) -> list[Import]:
    grouped: dict[tuple, tuple[str, list[str]]] = {}
    for _, captures in matches:
        for node in captures.get("import", ()):
            spec = node.text.decode("utf-8", errors="replace").strip().strip("\"'`<>")
            entry = grouped.setdefault(_key(node), (spec, []))
            for symbol in captures.get("symbol", ()):
                entry[1].append(symbol.text.decode("utf-8", errors="replace").strip("\"'"))
    return [Import(spec, tuple(dict.fromkeys(symbols))) for spec, symbols in grouped.values()
            if spec]


# Which definitions a change touches.

def changed_symbols(file: FileChange, old: Outline | None, new: Outline | None) -> list[Symbol]:
    """Symbols a change adds, removes or modifies, from full old and new versions."""
    old_defs = old.definitions if old else []
    new_defs = new.definitions if new else []
    if not (old_defs and new_defs):  # each symbol added, or each removed: none is modified
        return _classify(old_defs, new_defs, set())
    removed_lines = [n for h in file.hunks for n, _ in h.removed()]
    added_lines = [n for h in file.hunks for n, _ in h.added()]
    touched = _innermost(old_defs, removed_lines) | _innermost(new_defs, added_lines)
    return _classify(old_defs, new_defs, touched)


def _innermost(defs: list[Definition], lines: list[int]) -> set[str]:
    return {d.name for d in _innermost_each(defs, lines) if d is not None}


def _innermost_each(defs: list[Definition], lines: list[int]) -> list[Definition | None]:
    """For each line, the narrowest definition containing it (None outside all of them); on a tie
    (a one-line class and its method) the later one in `defs`.

    One sweep over the lines in order with a heap of the definitions started so far, keyed by
    span: O((lines + defs) log defs), where testing every definition per line is quadratic.
    """
    by_start = sorted(range(len(defs)), key=lambda i: defs[i].start)
    order = sorted(range(len(lines)), key=lines.__getitem__)
    found: list[Definition | None] = [None] * len(lines)
    started: list[tuple[int, int]] = []
    next_def = 0
    for position in order:
        line = lines[position]
        while next_def < len(by_start) and defs[by_start[next_def]].start <= line:
            i = by_start[next_def]
            heapq.heappush(started, (defs[i].end - defs[i].start, -i))
            next_def += 1
        while started and defs[-started[0][1]].end < line:  # ended: never contains a later line
            heapq.heappop(started)
        if started:
            found[position] = defs[-started[0][1]]
    return found


def _classify(old_defs: list[Definition], new_defs: list[Definition],
              touched: set[str]) -> list[Symbol]:
    """Compare by qualified name; a name defined twice (C++ declaration and definition,
    overloads, conditional definitions) compares the set of its signatures."""
    old_by: dict[str, list[Definition]] = {}
    for d in old_defs:
        old_by.setdefault(d.name, []).append(d)
    new_by: dict[str, list[Definition]] = {}
    for d in new_defs:
        new_by.setdefault(d.name, []).append(d)
    symbols = []
    for name, defs in new_by.items():
        d = defs[0]
        if name not in old_by:
            symbols.append((d.start, Symbol(name, d.kind, "added", d.public,
                                            new_signature=d.signature)))
        elif name in touched:
            before = old_by[name]
            gone = [x.signature for x in before if x.signature not in
                    {y.signature for y in defs}]
            came = [y.signature for y in defs if y.signature not in
                    {x.signature for x in before}]
            changed = bool(gone or came)
            symbols.append((d.start, Symbol(
                name, d.kind, "modified", any(x.public for x in (*defs, *before)),
                signature_changed=changed,
                old_signature=(gone or [before[0].signature])[0] if changed else None,
                new_signature=(came or [d.signature])[0] if changed else None)))
    for name, defs in old_by.items():
        if name not in new_by:
            d = defs[0]
            symbols.append((d.start, Symbol(name, d.kind, "removed", d.public,
                                            old_signature=d.signature)))
    symbols.sort(key=lambda pair: pair[0])
    return [s for _, s in symbols]


# Diff-only mode: fragments of each hunk.

def _fragment(hunk: Hunk, side: str, prefix: str = "") -> tuple[bytes, list[int], list[int]]:
    """The hunk's text on one side (after `prefix`, e.g. `<?php`), its file line numbers and
    which of them changed."""
    mark = "+" if side == "new" else "-"
    keep = (" ", mark)
    line = hunk.new_start if side == "new" else hunk.old_start
    texts, numbers, changed = [], [], []
    for raw in hunk.lines:
        kind = raw[:1]
        if kind in keep:
            texts.append(raw[1:])
            numbers.append(line)
            if kind == mark:
                changed.append(line)
            line += 1
    indent = min((len(t) - len(t.lstrip()) for t in texts if t.strip()), default=0)
    body = prefix + "\n".join(t[indent:] for t in texts)
    numbers = [numbers[0] if numbers else 0] * prefix.count("\n") + numbers
    return body.encode("utf-8", errors="replace"), numbers, changed


def _shift(defs: list[Definition], numbers: list[int], indented: list[bool],
           section: Definition | None) -> list[Definition]:
    out = []
    for d in defs:
        start = numbers[min(d.start - 1, len(numbers) - 1)] if numbers else d.start
        end = numbers[min(d.end - 1, len(numbers) - 1)] if numbers else d.end
        name, kind = d.name, d.kind
        nested = indented[min(d.start - 1, len(indented) - 1)] if indented else False
        if section is not None and section.kind in CLASS_LIKE and nested and "." not in name:
            name = f"{section.name}.{name}"
            kind = "method" if kind == "function" else kind
        out.append(replace(d, name=name, kind=kind, start=start, end=end))
    return out


def section_definition(language: Language, hunk: Hunk) -> Definition | None:
    """The definition a hunk header names (`@@ -1 +1 @@ def f(x):`), if it names one."""
    pattern = getattr(language.module, "SECTION", None)
    text = hunk.section.strip()
    match = pattern.search(text) if pattern is not None and text else None
    if match is None:
        return None
    groups = match.groupdict()
    name = groups.get("name") or groups.get("name2")
    owner = groups.get("owner")
    kind = groups.get("kind")
    if not name and owner:
        name, owner, kind = owner, None, "class"
    if not name or name in _NOT_NAMES:
        return None
    kind = _SECTION_KINDS.get(kind, kind) if kind else "function"
    if owner:
        name, kind = f"{_clean(owner)}.{name}", "method"
    public = language.module.section_public(name.split(".")[-1], text)
    return Definition(name, kind, 0, 0, public, "")


def fragment_symbols(language: Language, file: FileChange) -> tuple[list[Symbol], list[Import],
                                                                     bool]:
    """Changed symbols from the hunks alone; also the imports seen and whether any parse failed."""
    merged: dict[str, Symbol] = {}
    imports: list[Import] = []
    errors = False
    prefix = getattr(language.module, "FRAGMENT_PREFIX", "")
    for hunk in file.hunks:
        section = section_definition(language, hunk)
        sides = {}
        for side in ("old", "new"):
            source, numbers, changed = _fragment(hunk, side, prefix)
            lines = [raw[1:] for raw in hunk.lines if raw[:1] in (" ", "+" if side == "new"
                                                                      else "-")]
            indented = [False] * prefix.count("\n") + [line[:1] in (" ", "\t")
                                                       for line in lines]
            parsed = outline(language, source)
            errors = errors or parsed.syntax_error
            imports.extend(parsed.imports)
            sides[side] = (_shift(parsed.definitions, numbers, indented, section), changed)
        (old_defs, removed), (new_defs, added) = sides["old"], sides["new"]
        touched = _innermost(old_defs, removed) | _innermost(new_defs, added)
        symbols = _classify(old_defs, new_defs, touched)
        outside = None in _innermost_each(old_defs, removed) or None in _innermost_each(
            new_defs, added)
        if section is not None and outside and section.name not in {s.name for s in symbols}:
            symbols.append(Symbol(section.name, section.kind, "modified", section.public))
        for symbol in symbols:
            merged[symbol.name] = _merge(merged.get(symbol.name), symbol)
    return list(merged.values()), imports, errors


def _merge(before: Symbol | None, now: Symbol) -> Symbol:
    if before is None:
        return now
    if before.change == "removed" and now.change == "added":  # moved within the file
        return replace(now, change="modified", signature_changed=before.old_signature
                       != now.new_signature, old_signature=before.old_signature)
    if before.change != "modified":
        return before
    if now.change != "modified":
        return now
    return replace(before, signature_changed=before.signature_changed or now.signature_changed,
                   old_signature=before.old_signature or now.old_signature,
                   new_signature=before.new_signature or now.new_signature,
                   public=before.public or now.public)
