"""Incremental re-review: a unit's content key, and carrying its findings to new line numbers.

The key hashes the unit's path and its diff lines without their numbers, so a unit whose
changed code is the same as in an earlier run of the PR (even if it moved) is not paid for
again. Each kept finding remembers the text of its first line; when carried over it goes to the
line with that text nearest to where the unit moved, or is dropped when that text is gone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, replace

from cartriage.intake.change import Hunk
from cartriage.review.findings import Finding


def content_key(path: str, status: str, hunks: Iterable[Hunk]) -> str:
    digest = hashlib.sha256(f"{path}\0{status}\0".encode())
    for hunk in hunks:
        digest.update(("\n".join(hunk.lines) + "\0@@\0").encode("utf-8", "replace"))
    return digest.hexdigest()


def line_texts(hunks: Iterable[Hunk], deleted: bool = False) -> dict[int, str]:
    """Line number -> text of every line a finding may point at (old numbers when deleted)."""
    texts: dict[int, str] = {}
    for hunk in hunks:
        old, new = hunk.old_start, hunk.new_start
        for line in hunk.lines:
            kind, text = line[:1], line[1:]
            if kind in ("+", " ") and not deleted:
                texts[new] = text
            elif kind in ("-", " ") and deleted:
                texts[old] = text
            old += kind in ("-", " ")
            new += kind in ("+", " ")
    return texts


def keep(finding: Finding, texts: dict[int, str]) -> dict:
    """A finding as stored in the ledger, with the text it is anchored to."""
    return {"finding": asdict(finding), "text": texts.get(finding.line_start),
            "first": min(texts, default=0)}


def carry_over(stored: Iterable[dict], texts: dict[int, str]) -> tuple[list[Finding], int]:
    """(findings re-anchored to `texts`, marked reused; how many were dropped)."""
    kept, dropped = [], 0
    first = min(texts, default=0)
    for item in stored:
        finding = Finding(**item["finding"])
        expected = finding.line_start + first - item["first"]
        places = [n for n, text in texts.items() if text == item["text"]]
        if item["text"] is None or not places:
            dropped += 1
            continue
        start = min(places, key=lambda n: (abs(n - expected), n))
        moved = start != finding.line_start
        kept.append(replace(finding, line_start=start,
                            line_end=start + finding.line_end - finding.line_start,
                            reanchored=finding.reanchored or moved, reused=True))
    return kept, dropped
