"""Change records (the shared JSONL schema) -> ChangeSet. Never reads `labels` or `signals`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartriage.errors import InputError
from cartriage.intake import parse_diff, set_aside_ignored
from cartriage.intake.change import ChangeSet

if TYPE_CHECKING:
    from cartriage.config import Config

TEXT_FIELDS = ("title", "message", "issue", "description")


class RecordError(InputError):
    """One record cannot be scored; the others still are."""


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) for each non-blank line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"--data {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"--data {path}: cannot read: {exc.strerror}") from None
    return parse_jsonl(data)


def parse_jsonl(data: bytes) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) for each non-blank line of `data`."""
    out = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            out.append((number, None, f"line {number}: not JSON: {exc.msg}"))
            continue
        if not isinstance(record, dict):
            out.append((number, None, f"line {number}: not a JSON object"))
            continue
        out.append((number, record, None))
    return out


def all_records(data: bytes, source: str) -> list[dict[str, Any]]:
    """Every record of `data`; InputError naming `source` and the first bad line."""
    rows = parse_jsonl(data)
    bad = next((error for _, record, error in rows if record is None), None)
    if bad is not None:
        raise InputError(f"{source}: {bad}")
    return [record for _, record, _ in rows]


def record_id(record: dict[str, Any]) -> str:
    value = record.get("id")
    if not isinstance(value, str) or not value:
        raise RecordError("field 'id' must be a non-empty string")
    return value


def to_change(record: dict[str, Any], config: Config | None = None) -> ChangeSet:
    """A ChangeSet from a record: the diff if present, else issue-only (title/message text)."""
    name = record_id(record)
    text = {}
    for key in TEXT_FIELDS:
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"{name}: field {key!r} must be a string")
        text[key] = value or ""
    title = text["title"]
    description = text["description"] or text["message"]
    first, _, rest = description.partition("\n")
    if title and first.strip() == title.strip():
        description = rest.strip()
    elif not title:
        title, description = first.strip(), rest.strip()
    diff = record.get("diff")
    if diff is not None and not isinstance(diff, str):
        raise RecordError(f"{name}: field 'diff' must be a string")
    change = ChangeSet(source=f"record {name}", title=title, description=description.strip(),
                       issue=text["issue"])
    if not diff:
        return change
    files = _parse(diff, name, bool(record.get("diff_truncated")))
    change = replace(change, files=files)
    return change if config is None else set_aside_ignored(change, config)


def _parse(diff: str, name: str, truncated: bool):
    data = diff.encode("utf-8", errors="replace")
    try:
        return parse_diff(data, name)
    except InputError as exc:
        if not truncated:
            raise RecordError(f"{name}: {_after(str(exc), name)}") from None
    # A diff cut at a size limit ends inside a hunk: drop the incomplete last hunk.
    cut = data.rfind(b"\n@@ ")
    try:
        return parse_diff(data[: cut + 1], name) if cut > 0 else ()
    except InputError as exc:
        raise RecordError(f"{name}: {_after(str(exc), name)}") from None


def _after(message: str, name: str) -> str:
    return message[len(name) + 2:] if message.startswith(name + ": ") else message
