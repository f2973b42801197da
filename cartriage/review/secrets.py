"""A secret in an added line is itself a finding: security, critical, file and line, the kind of
secret and never its value. Found without a model (the same rules as redaction,
`redact.scan_blocks`), so a plan-only run reports them too.

Redaction errs towards hiding (a word too many costs the reviewer little); a critical finding
gates CI, so it must be sure. Named token formats, private keys, URL and connection-string
passwords are findings as found; a value guessed from its name (`password = ...`) or from its
entropy alone is a finding only when it looks machine-made or like a password, not like an
environment variable's name, a sentence, a model name or encoded data under a harmless key."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cartriage.review.findings import Finding
from cartriage.review.redact import CONTINUED, KEYWORD_HINT, Secret, scan_blocks

if TYPE_CHECKING:
    from cartriage.intake.change import ChangeSet, Hunk

STRATEGY = "secret-scan"
ASSIGNED, ENTROPY = "secret assigned to", "high-entropy string"  # kinds guessed, not matched
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_NUMBER = re.compile(r"[\d.,_]+")


def findings(change: ChangeSet) -> tuple[Finding, ...]:
    """One finding per secret (a key block is one) in the added lines of `change`."""
    hunks = [(file.path, hunk) for file in change.files if not file.binary
             for hunk in file.hunks]
    found: dict[int, list[tuple[int, list[Secret]]]] = {}
    for number, index, secrets in scan_blocks([hunk.lines for _, hunk in hunks], _is_added):
        found.setdefault(number, []).append((index, secrets))
    return tuple(_finding(hunks[number][0], start, end, kind)
                 for number, secrets in found.items()
                 for start, end, kind in _added(hunks[number][1], secrets))


def _is_added(line: str) -> bool:
    return line[:1] == "+"


def _added(hunk: Hunk, found: list[tuple[int, list[Secret]]]) -> list[tuple[int, int, str]]:
    """(first line, last line, kind) of the secrets `found` in the hunk's added lines."""
    numbers, new = [], hunk.new_start
    for line in hunk.lines:
        numbers.append(new if line[:1] == "+" else None)
        new += line[:1] in ("+", " ")
    out: list[tuple[int, int, str]] = []
    for index, secrets in found:
        number = numbers[index]
        if number is None:
            continue
        line = hunk.lines[index]
        for secret in secrets:
            if not _credible(secret.kind, line[secret.start:secret.end], line):
                continue
            if secret.kind == CONTINUED and out and out[-1][2] == "private key":
                out[-1] = (out[-1][0], number, "private key")
            elif secret.kind == CONTINUED:
                out.append((number, number, "private key"))
            else:
                out.append((number, number, secret.kind))
    return list(dict.fromkeys(out))


def _credible(kind: str, value: str, line: str) -> bool:
    """Whether a secret found by its name or its entropy is sure enough to be a finding."""
    if not kind.startswith((ASSIGNED, ENTROPY)):
        return True
    if kind.startswith(ENTROPY) and not KEYWORD_HINT.search(line[:line.find(value)]):
        return False  # random-looking data (hashes, encoded weights) under a harmless name
    value = value.strip()
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value),
                   any(c.isdigit() for c in value), any(not c.isalnum() for c in value)))
    return (len(value) >= 8 and not any(c.isspace() for c in value) and "\\" not in value
            and not _ENV_NAME.fullmatch(value) and not _NUMBER.fullmatch(value)
            and classes >= 2)


def _finding(path: str, start: int, end: int, kind: str) -> Finding:
    return Finding(
        file=path, line_start=start, line_end=end, severity="critical", category="security",
        title=f"Secret in an added line: {kind}",
        explanation=f"A {kind} is added here (the value is not shown). Once pushed it stays in "
                    "the repository's history and in every clone.",
        suggestion="Remove it, rotate the credential, and read it from the environment or a "
                   "secret store.",
        confidence=0.9, unit_id=path, strategy=STRATEGY)
