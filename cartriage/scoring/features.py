"""The one feature function that training and inference share (versioned: FEATURE_VERSION).

A *scope* is what is scored: one review unit (a file or a group of its hunks) or, in training,
the whole change. Its features combine
- facts from the analysis stage: roles, symbols (kind, public, signature changed), fan-in and
  its percentile when a repository was indexed (`fan_in_known` says so), language;
- the change's context: title/description/issue words, size and spread, file counts by role;
- text of the scope: path tokens, extension, identifiers on changed diff lines.

Categorical tokens are hashed (crc32, stable across runs and machines) into HASH_DIM buckets,
each namespace L2-normalised so a long diff cannot drown the title; numeric features are
log-scaled. The hashing lives here rather than in scikit-learn's FeatureHasher so that inference
needs only numpy (scikit-learn is a training-only extra).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from cartriage.analysis import unit_hunks
from cartriage.analysis.facts import Analysis, FileFacts, Unit
from cartriage.intake.change import ChangeSet, FileChange, Hunk

FEATURE_VERSION = "cartriage-features-4"
HASH_DIM = 2**12

# Roles counted as change-level numeric features; other role names still enter as hashed tokens.
ROLES = (
    "migration", "schema", "security", "core", "public-api", "ui", "tests", "docs", "config",
    "ci", "build", "dependencies", "lockfile", "generated", "vendored", "infrastructure",
)
FIX_WORDS = frozenset(
    ["fix", "fixes", "fixed", "fixing", "bug", "bugs", "regression", "crash", "broken", "race",
     "deadlock", "leak", "revert", "hotfix", "incorrect", "wrong", "issue", "error", "panic",
     "fail", "fails", "failing"]
)
# Control flow on changed lines, searched over the lines joined by newlines: no match crosses a
# line's end (the `?...:` of a conditional expression stays on its line). The lookahead, the
# first characters every branch starts with, only spares trying the branches elsewhere (a
# third of the search over a 50,000-line file).
CONTROL_WORDS = ("if", "else", "elif", "for", "while", "switch", "case", "catch", "except",
                 "rescue", "select", "go", "defer", "async", "await", "lock", "unless", "until",
                 "try", "finally")
CONTROL = re.compile(r"(?=[a-z&|?])(?:\b(" + "|".join(CONTROL_WORDS) + r")\b|&&|\|\||"
                     r"\?[^\S\n]*[^:\n]+:)")
# Each control word alone, as a whole word (as `\b...\b`), found by its letters first.
_CONTROL_WORD = {word: re.compile(rf"{word}(?<!\w{word})(?!\w)") for word in CONTROL_WORDS}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
MAX_DIFF_TOKENS = 4000  # identifiers read per scope: bounds time on huge diffs

# Numeric features of the consequence model (names are stable: they appear in top_features).
CONSEQUENCE_NUMERIC = (
    "log_added", "log_removed", "log_files", "log_dirs", "log_hunks", "only_deletions",
    "share_new_files", "share_deleted_files", "log_symbols", "log_public_symbols",
    "log_signature_changes", "log_removed_symbols", "parsed", "scope_share",
    *(f"files_with_role:{r}" for r in ROLES), "log_change_files", "log_change_churn",
    "text_length", "has_text", "fan_in_known", "max_fan_in_percentile", "log_max_fan_in",
)
# Numeric features of the difficulty model: change-risk, not consequence.
DIFFICULTY_NUMERIC = (
    "log_added", "log_removed", "log_files", "log_dirs", "log_top_dirs", "log_hunks",
    "file_entropy", "log_symbols", "log_signature_changes", "max_indent", "mean_indent",
    "log_control_flow", "control_flow_density", "fix_message", "log_languages", "share_tests",
    "share_docs", "only_deletions", "log_change_files", "log_change_churn", "text_length",
)


@dataclass(frozen=True)
class Features:
    """A float32 vector and, for explanations, the readable names behind each non-zero entry."""

    vector: np.ndarray
    names: dict[int, str]


@dataclass(frozen=True)
class _Scope:
    files: tuple[tuple[FileChange, FileFacts | None, tuple[Hunk, ...]], ...]
    change_files: int
    change_churn: int
    # Each hunk's changed lines as read (_HunkLines), by id: shared by a change's scopes.
    lines: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class _HunkLines:
    """What the features read from one hunk's lines."""

    added: int
    removed: int
    changed: int  # added or removed lines that are not blank
    indent_sum: int
    indent_max: int
    control: int  # CONTROL matches on the changed lines


def numeric_dimension(kind: str) -> int:
    """How many numeric features lead the vector (the hashed tokens follow)."""
    return len(CONSEQUENCE_NUMERIC if kind == "consequence" else DIFFICULTY_NUMERIC)


def dimension(kind: str) -> int:
    return numeric_dimension(kind) + HASH_DIM


def scopes(change: ChangeSet, analysis: Analysis,
           lines: dict | None = None) -> list[tuple[Unit | None, _Scope]]:
    """One scope per analysis unit; none when the change has no reviewed files (issue-only).

    `lines`: a dict shared with whole_change, so that each hunk's lines are read once."""
    lines = {} if lines is None else lines
    by_path = {f.path: f for f in change.files}
    churn = change.added + change.removed
    out = []
    for unit in analysis.units:
        file = by_path.get(unit.path)
        if file is None:
            continue
        # A unit that is a slice of one oversized hunk is scored on its slice, not the hunk.
        hunks = unit_hunks(file, unit) if unit.lines is not None else tuple(
            file.hunks[i] for i in unit.hunks if 0 <= i < len(file.hunks))
        out.append((unit, _Scope(((file, analysis.facts(unit.path), hunks),),
                                 len(change.files), churn, lines)))
    return out


def whole_change(change: ChangeSet, analysis: Analysis, lines: dict | None = None) -> _Scope:
    """The whole change as one scope (how training sees a labelled record); `lines`: see
    scopes."""
    reviewed = {u.path for u in analysis.units}
    files = [(f, analysis.facts(f.path), f.hunks) for f in change.files if f.path in reviewed]
    return _Scope(tuple(files), len(change.files), change.added + change.removed,
                  {} if lines is None else lines)


def minor(scope: _Scope) -> bool:
    """True when every file of the scope is a test or docs file (low by the rubric)."""
    return bool(scope.files) and all(
        facts is not None and ({"tests", "docs"} & set(facts.role_names))
        for _, facts, _ in scope.files)


def change_text(change: ChangeSet) -> str:
    return "\n".join(t for t in (change.title, change.description, change.issue) if t)


# What a model's sentence embedding reads (its card's `encoder.text`): the change's whole text,
# or its title alone (a shorter, cheaper encoder pass).
EMBEDDED_TEXTS = ("text", "title")


def embedded_text(change: ChangeSet, which: str) -> str:
    """The text a model embeds: `which` is one of EMBEDDED_TEXTS."""
    return change_text(change) if which == "text" else change.title or ""


# Rubric words (RUBRIC.md: what makes an error costly, and what is low) looked for in the
# change's text and, separately, its title: one 0/1 entry each, read by the consequence models
# next to the sentence embedding (train.RUBRIC_WORDS; chosen on the grouped folds, docs/scoring.md).
RUBRIC_WORDS = {
    "security": r"secur|vulnerab|\bcve\b|exploit",
    "auth": r"auth(?!or)|login|permission|password|token|session|credential",
    "crypto": r"crypt|\btls\b|\bssl\b|certificate|signature",
    "injection": r"inject|\bxss\b|csrf|ssrf|saniti[sz]|escap",
    "migration": r"migrat",
    "data loss": r"data loss|\blost\b|corrupt|delet|overwrit|truncat",
    "crash": r"crash|panic|segfault|deadlock|\bhangs?\b|\boom\b|memory leak|\brace\b",
    "payment": r"payment|billing|invoice|money",
    "typo": r"typo|spelling|grammar|wording",
    "docs": r"\bdocs?\b|documentation|readme|docstring|comment",
    "test": r"\btests?\b|junit|flaky|unit test",
    "translation": r"translat|locale|i18n|locali[sz]",
    "style": r"colou?r|contrast|\bcss\b|style|theme|icon|layout|overlap|wrap",
    "message": r"error message|warning|log message|diagnostic",
}
_RUBRIC = tuple(re.compile(pattern, re.IGNORECASE) for pattern in RUBRIC_WORDS.values())
RUBRIC_NAMES = (*(f"rubric word:{w}" for w in RUBRIC_WORDS),
                *(f"rubric word in title:{w}" for w in RUBRIC_WORDS))


def rubric_words(change: ChangeSet) -> np.ndarray:
    """1.0 for each rubric word group found in the change's text, then in its title alone."""
    text, title = change_text(change), change.title or ""
    return np.array([bool(p.search(text)) for p in _RUBRIC]
                    + [bool(p.search(title)) for p in _RUBRIC], dtype=np.float32)


# The text model's neighbour features: the tiers of the most similar training issues.
NEIGHBOUR_NAMES = ("similar issues: low", "similar issues: medium", "similar issues: high")


def neighbour_shares(embeddings: np.ndarray, pool: np.ndarray, tiers: np.ndarray, k: int,
                     exclude: np.ndarray | None = None) -> np.ndarray:
    """(n, 3): for each embedding row, the tiers (0-2) of its `k` most similar `pool` rows
    (cosine similarity: the embeddings have norm 1) as shares weighted by similarity (a negative
    similarity weighs 0). `exclude[i, j]` keeps pool row j out of row i's neighbours."""
    similar = np.atleast_2d(embeddings).astype(np.float32) @ pool.astype(np.float32).T
    if exclude is not None:
        similar = np.where(exclude, -np.inf, similar)
    top = np.argsort(-similar, axis=1, kind="stable")[:, :k]
    weight = np.maximum(np.take_along_axis(similar, top, axis=1), 0).astype(np.float64)
    shares = np.stack([(weight * (tiers[top] == t)).sum(axis=1) for t in range(3)], axis=1)
    return (shares / np.maximum(weight.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class Text:
    """The change's shared text (title, description, issue), parsed once per change."""

    length: float
    present: float
    words: tuple[str, ...]
    bigrams: tuple[str, ...]
    fixes: tuple[str, ...]  # the words in FIX_WORDS, in order


def as_context(change: Features) -> Features:
    """A whole change's features as its units' context (with_change): its names marked."""
    return Features(change.vector, {j: f"change {name}" for j, name in change.names.items()})


def with_change(unit: Features, context: Features, share: float) -> Features:
    """A unit's features pulled toward its whole change's (`context`, as_context):
    (1 - share) * unit + share * change. The change is the unit's context (a file inside a
    migration reads part of the migration); the names are the unit's, then the change's
    entries the unit lacks, marked."""
    return Features(pulled(unit.vector, context.vector, share), {**context.names, **unit.names})


def pulled(units: np.ndarray, change: np.ndarray, share: float) -> np.ndarray:
    """(1 - share) * units + share * change, as float32: a unit's row (or rows) pulled toward
    its change's, the one formula of scoring (with_change) and training (train.in_change)."""
    return ((1 - share) * units + share * change).astype(np.float32)


def read_text(change: ChangeSet) -> Text:
    text = change_text(change)
    words = tuple(_words(text))
    return Text(math.log1p(len(text)) / 8, float(bool(text.strip())), words,
                tuple(_bigrams(change.title)), tuple(w for w in words if w in FIX_WORDS))


def _size_and_symbols(numeric: dict[str, float], scope: _Scope):
    """The size, spread and symbol counts both models use; returns (files, facts, symbols)."""
    _size(numeric, scope)
    facts = [f for _, f, _ in scope.files if f is not None]
    symbols = [s for f in facts for s in f.symbols]
    numeric["log_symbols"] = math.log1p(len(symbols))
    numeric["log_signature_changes"] = math.log1p(sum(s.signature_changed for s in symbols))
    return len(scope.files), facts, symbols


def consequence_features(text: Text, scope: _Scope | None, numeric_only: bool = False) -> Features:
    """Features for the consequence model; `scope=None` is issue-only (text alone).

    `numeric_only`: only the numeric part (the vector's first numeric_dimension entries, the
    same values), for a model that reads no hashed token: the tokens are then not computed."""
    numeric = dict.fromkeys(CONSEQUENCE_NUMERIC, 0.0)
    numeric["text_length"] = text.length
    numeric["has_text"] = text.present
    tokens: dict[str, list[str]] | None = None if numeric_only else {
        "w": list(text.words), "b": list(text.bigrams)}
    if scope is not None and scope.files:
        n, facts, symbols = _size_and_symbols(numeric, scope)
        numeric["log_public_symbols"] = math.log1p(sum(s.public for s in symbols))
        numeric["log_removed_symbols"] = math.log1p(sum(s.change == "removed" for s in symbols))
        numeric["parsed"] = sum(f.parsed for f in facts) / n
        numeric["scope_share"] = n / max(scope.change_files, 1)
        roles = [f.role_names for f in facts]  # a property: its tuple is built at each call
        counts = Counter(r for names in roles for r in names)  # each name once per file
        for role in ROLES:
            numeric[f"files_with_role:{role}"] = counts[role] / n
        _fan_in(numeric, facts, n)
        if numeric_only:
            return _assemble(CONSEQUENCE_NUMERIC, numeric, None)
        tokens["role"] = [r for names in roles for r in names]
        tokens["sym"] = [f"{s.kind}:{s.change}:{'public' if s.public else 'private'}"
                         for s in symbols]
        tokens["sym"] += [f"{s.kind}:signature" for s in symbols if s.signature_changed]
        tokens["p"] = [t for file, _, _ in scope.files for t in _path_tokens(file.path)]
        tokens["ext"] = [_extension(file.path) for file, _, _ in scope.files]
        tokens["st"] = [file.status for file, _, _ in scope.files]
        tokens["lang"] = [_language(file, fact) for file, fact, _ in scope.files]
        tokens["id"] = _diff_identifiers(scope)
    return _assemble(CONSEQUENCE_NUMERIC, numeric, tokens)


def difficulty_features(text: Text, scope: _Scope | None) -> Features:
    """Features for the difficulty model: size, spread, entropy, nesting, fix-like messages."""
    numeric = dict.fromkeys(DIFFICULTY_NUMERIC, 0.0)
    fixes = list(text.fixes)
    numeric["fix_message"] = float(bool(fixes))
    numeric["text_length"] = text.length
    tokens: dict[str, list[str]] = {"w": fixes}
    if scope is not None and scope.files:
        n, facts, symbols = _size_and_symbols(numeric, scope)
        sizes = [sum(len(h.lines) for h in hunks) for _, _, hunks in scope.files]
        read = [_hunk_lines(scope, h) for _, _, hunks in scope.files for h in hunks]
        numeric["file_entropy"] = _entropy(sizes)
        numeric["log_top_dirs"] = math.log1p(len({_top_dir(f.path) for f, _, _ in scope.files}))
        changed = sum(r.changed for r in read)
        control = sum(r.control for r in read)
        numeric["max_indent"] = min(max((r.indent_max for r in read), default=0), 64) / 16
        indent_sum = sum(r.indent_sum for r in read)
        numeric["mean_indent"] = (indent_sum / changed / 8) if changed else 0.0
        numeric["log_control_flow"] = math.log1p(control)
        numeric["control_flow_density"] = control / max(changed, 1)
        languages = {_language(file, fact) for file, fact, _ in scope.files}
        numeric["log_languages"] = math.log1p(len(languages))
        roles = [f.role_names for f in facts]
        numeric["share_tests"] = sum("tests" in names for names in roles) / n
        numeric["share_docs"] = sum("docs" in names for names in roles) / n
        tokens["lang"] = sorted(languages)
        tokens["role"] = [r for names in roles for r in names]
        tokens["ext"] = [_extension(file.path) for file, _, _ in scope.files]
    return _assemble(DIFFICULTY_NUMERIC, numeric, tokens)


def _fan_in(numeric: dict[str, float], facts: list[FileFacts], n: int) -> None:
    """Fan-in when a repository was indexed (all zero from a diff alone: `fan_in_known` 0)."""
    known = [f for f in facts if f.fan_in is not None]
    if not known:
        return
    numeric["fan_in_known"] = len(known) / n
    numeric["max_fan_in_percentile"] = max(f.fan_in_percentile or 0.0 for f in known) / 100
    numeric["log_max_fan_in"] = math.log1p(max(f.fan_in for f in known)) / 4


def _size(numeric: dict[str, float], scope: _Scope) -> None:
    read = [_hunk_lines(scope, h) for _, _, hunks in scope.files for h in hunks]
    added = sum(r.added for r in read)
    removed = sum(r.removed for r in read)
    n = len(scope.files)
    numeric["log_added"] = math.log1p(added)
    numeric["log_removed"] = math.log1p(removed)
    numeric["log_files"] = math.log1p(n)
    numeric["log_dirs"] = math.log1p(len({f.path.rpartition("/")[0] for f, _, _ in scope.files}))
    numeric["log_hunks"] = math.log1p(sum(len(h) for _, _, h in scope.files))
    numeric["only_deletions"] = float(removed > 0 and added == 0)
    if "share_new_files" in numeric:
        numeric["share_new_files"] = sum(f.status == "added" for f, _, _ in scope.files) / n
        numeric["share_deleted_files"] = sum(f.status == "deleted" for f, _, _ in scope.files) / n
    numeric["log_change_files"] = math.log1p(scope.change_files)
    numeric["log_change_churn"] = math.log1p(scope.change_churn)


def _hunk_lines(scope: _Scope, hunk: Hunk) -> _HunkLines:
    """The hunk's lines as the features read them, once per hunk (memo in `scope.lines`)."""
    found = scope.lines.get(id(hunk))
    if found is None or found[0] is not hunk:
        found = scope.lines[id(hunk)] = (hunk, _read_lines(hunk))
    return found[1]


def _read_lines(hunk: Hunk) -> _HunkLines:
    changed = [line for line in hunk.lines if line[:1] in ("+", "-")]
    added = sum(line[0] == "+" for line in changed)
    bodies = [body.expandtabs(4) for line in changed if (body := line[1:]).strip()]
    indents = [len(body) - len(body.lstrip()) for body in bodies]
    # One search over the changed lines joined (a match never crosses a line's end).
    return _HunkLines(added, len(changed) - added, len(bodies), sum(indents),
                      max(indents, default=0), control_count("\n".join(bodies)))


def control_count(text: str) -> int:
    """`len(CONTROL.findall(text))`. Without a `?` (no conditional expression to match across
    other tokens) the matches are the control words, `&&` and `||`, none inside another: each
    is counted alone, a word only where its letters are (a batch's translation files are
    megabytes of changed lines, where CONTROL tries its branches at every letter)."""
    if "?" in text:
        return len(CONTROL.findall(text))
    return text.count("&&") + text.count("||") + sum(
        len(_CONTROL_WORD[word].findall(text)) for word in CONTROL_WORDS if word in text)


def _entropy(sizes: list[int]) -> float:
    total = sum(sizes)
    if total <= 0 or len(sizes) < 2:
        return 0.0
    return -sum(s / total * math.log2(s / total) for s in sizes if s)


def _assemble(names: tuple[str, ...], numeric: dict[str, float], tokens) -> Features:
    """The vector: numeric features, then (unless `tokens` is None) the hashed tokens."""
    vector = np.zeros(len(names) + (0 if tokens is None else HASH_DIM), dtype=np.float32)
    values = [numeric[name] for name in names]
    vector[:len(names)] = values
    labels = {i: name for i, (name, value) in enumerate(zip(names, values, strict=True))
              if value}
    if tokens is None:
        return Features(vector, labels)
    offset = len(names)
    for space in sorted(tokens):
        counts = Counter(tokens[space])
        if not counts:
            continue
        weight = 1.0 / math.sqrt(len(counts))
        for token in sorted(counts):
            name = f"{space}:{token}"
            index = offset + zlib.crc32(name.encode("utf-8", "replace")) % HASH_DIM
            vector[index] += weight
            labels[index] = f"{labels[index]}|{name}" if index in labels else name
    return Features(vector, labels)


def _split(word: str) -> list[str]:
    return [p.lower() for p in _CAMEL.findall(word)]


def _words(text: str) -> list[str]:
    words = []
    for word in _WORD.findall(text):
        parts = _split(word)
        words.append(word.lower())
        if len(parts) > 1:
            words.extend(parts)
    return [w for w in words if 2 <= len(w) <= 30]


def _bigrams(title: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(title)]
    return [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]


def _path_tokens(path: str) -> list[str]:
    parts = re.split(r"[/._\-\s]+", path)
    out = []
    for part in parts:
        out.extend(p for p in _split(part) if len(p) >= 2)
    return out


def _extension(path: str) -> str:
    name = path.rpartition("/")[2]
    return name.rpartition(".")[2].lower() if "." in name else name.lower()


def _top_dir(path: str) -> str:
    return path.partition("/")[0] if "/" in path else ""


def _language(file: FileChange, fact: FileFacts | None) -> str:
    return (fact.language if fact and fact.language else file.language) or _extension(file.path)


def _diff_identifiers(scope: _Scope) -> list[str]:
    seen: list[str] = []
    for _, _, hunks in scope.files:
        for hunk in hunks:
            for line in hunk.lines:
                if line[:1] not in "+-":
                    continue
                for ident in _IDENT.findall(line[1:]):
                    seen.extend(p for p in _split(ident) if len(p) >= 3)
                if len(seen) >= MAX_DIFF_TOKENS:
                    return seen
    return seen
