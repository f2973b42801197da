"""A secret in an added line is itself a finding: security, critical, file and line, the kind of
secret and never its value. Found without a model (the same rules as redaction, `redact.scan`),
so a plan-only run reports them too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cartriage.review.findings import Finding
from cartriage.review.redact import CONTINUED, scan

if TYPE_CHECKING:
    from cartriage.intake.change import ChangeSet, Hunk

STRATEGY = "secret-scan"


def findings(change: ChangeSet) -> tuple[Finding, ...]:
    """One finding per secret (a key block is one) in the added lines of `change`."""
    found = []
    for file in change.files:
        if file.binary:
            continue
        for hunk in file.hunks:
            found += [_finding(file.path, start, end, kind) for start, end, kind in _added(hunk)]
    return tuple(found)


def _added(hunk: Hunk) -> list[tuple[int, int, str]]:
    """(first line, last line, kind) of the secrets in the hunk's added lines."""
    numbers, new = [], hunk.new_start
    for line in hunk.lines:
        numbers.append(new if line[:1] == "+" else None)
        new += line[:1] in ("+", " ")
    out: list[tuple[int, int, str]] = []
    for index, secrets in scan(hunk.lines):
        number = numbers[index]
        if number is None:
            continue
        for secret in secrets:
            if secret.kind == CONTINUED and out and out[-1][2] == "private key":
                out[-1] = (out[-1][0], number, "private key")
            elif secret.kind == CONTINUED:
                out.append((number, number, "private key"))
            else:
                out.append((number, number, secret.kind))
    return list(dict.fromkeys(out))


def _finding(path: str, start: int, end: int, kind: str) -> Finding:
    return Finding(
        file=path, line_start=start, line_end=end, severity="critical", category="security",
        title=f"Secret in an added line: {kind}",
        explanation=f"A {kind} is added here (the value is not shown). Once pushed it stays in "
                    "the repository's history and in every clone.",
        suggestion="Remove it, rotate the credential, and read it from the environment or a "
                   "secret store.",
        confidence=0.9, unit_id=path, strategy=STRATEGY)
