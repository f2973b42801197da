"""Model output is untrusted too: parse it, check it against the findings schema, anchor it.

A finding must point at the changed lines of its unit's file. One that points a few lines away
is moved to the nearest changed line (re-anchored); one that points elsewhere is dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cartriage.review.findings import SEVERITIES
from cartriage.review.prompts import escape_controls

ANCHOR_WINDOW = 5  # lines: how far a finding may sit from a changed line and still be moved

FINDING_FIELDS = ("file", "line_start", "line_end", "severity", "category", "title",
                  "explanation", "suggestion", "confidence")

# The schema the prompts describe, as JSON Schema (tests check real replies against it).
FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["findings"],
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": list(FINDING_FIELDS),
                "properties": {
                    "file": {"type": "string"},
                    "line_start": {"type": "integer", "minimum": 1},
                    "line_end": {"type": "integer", "minimum": 1},
                    "severity": {"enum": list(SEVERITIES)},
                    "category": {"type": "string"},
                    "title": {"type": "string", "maxLength": 200},
                    "explanation": {"type": "string"},
                    "suggestion": {"type": "string"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        }
    },
}

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["confirmed"],
    "properties": {
        "confirmed": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["candidate", "reason"],
                "properties": {
                    "candidate": {"type": "integer", "minimum": 1},
                    "reason": {"type": "string"},
                    "severity": {"enum": list(SEVERITIES)},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        }
    },
}


class Malformed(ValueError):
    """The reply is not usable as a whole (not JSON, or not the expected top-level shape)."""


@dataclass(frozen=True)
class Lines:
    """The changed lines of one unit's file, on the side its line numbers refer to."""

    path: str
    changed: tuple[int, ...]


def parse_json(text: str) -> Any:
    """The JSON object in a reply; tolerates a Markdown code fence or prose around it."""
    body = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fence:
        body = fence.group(1).strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        start, end = body.find("{"), body.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(body[start: end + 1])
            except json.JSONDecodeError:
                pass
        raise Malformed(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None


def check_findings(data: Any) -> tuple[list[dict], list[str]]:
    """Valid findings (normalised) and one error per bad item; Malformed if the shape is wrong."""
    items = _top_list(data, "findings")
    if not items and isinstance(data, dict) and {"title", "explanation"} & set(data):
        # Seen from Qwen2.5-Coder-0.5B: `{"findings": [], "title": ..., ...}`, a finding written
        # beside the empty list. Neither "no findings" nor a finding: ask for a repair.
        raise Malformed('finding fields outside the "findings" list')
    valid, errors = [], []
    for index, item in enumerate(items):
        try:
            valid.append(_finding(item))
        except ValueError as exc:
            errors.append(f"findings[{index}]: {exc}")
    return valid, errors


def check_judgement(data: Any, candidates: int) -> tuple[list[dict], list[str]]:
    """Confirmed candidates ({candidate, reason, severity?, confidence?}) and item errors."""
    items = _top_list(data, "confirmed")
    valid, errors, seen = [], [], set()
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("must be an object")
            number = _int(item.get("candidate"), "candidate")
            if not 1 <= number <= candidates:
                raise ValueError(f"candidate {number} does not exist (1..{candidates})")
            if number in seen:
                continue
            seen.add(number)
            entry = {"candidate": number, "reason": _text(item.get("reason"), "reason")}
            if item.get("severity") is not None:
                entry["severity"] = _severity(item["severity"])
            if item.get("confidence") is not None:
                entry["confidence"] = _confidence(item["confidence"])
            valid.append(entry)
        except ValueError as exc:
            errors.append(f"confirmed[{index}]: {exc}")
    return valid, errors


def anchor(finding: dict, lines: Lines) -> tuple[dict | None, bool]:
    """(finding, reanchored) with the location on changed lines, or (None, False) to drop it."""
    shown = escape_controls(lines.path, keep="")  # the path as the prompt showed it
    if not ({lines.path, shown} & {finding["file"], normalise_path(finding["file"])}) \
            or not lines.changed:
        return None, False
    finding = {**finding, "file": lines.path}  # the unit's own spelling, as reports need it
    start, end = finding["line_start"], finding["line_end"]
    if any(start <= line <= end for line in lines.changed):
        return finding, False
    nearest = min(lines.changed, key=lambda line: (min(abs(line - start), abs(line - end)), line))
    if min(abs(nearest - start), abs(nearest - end)) > ANCHOR_WINDOW:
        return None, False
    return {**finding, "line_start": nearest, "line_end": nearest}, True


def normalise_path(path: str) -> str:
    path = path.strip().replace("\\", "/")
    for prefix in ("a/", "b/", "./"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    return path


def _top_list(data: Any, key: str) -> list:
    if isinstance(data, list) and key == "findings":
        return data  # a bare list of findings is unambiguous
    if not isinstance(data, dict):
        raise Malformed(f'expected a JSON object with "{key}", got {type(data).__name__}')
    if key not in data:
        raise Malformed(f'the JSON object has no "{key}" list')
    if not isinstance(data[key], list):
        raise Malformed(f'"{key}" must be a list')
    return data[key]


def _finding(item: Any) -> dict:
    if not isinstance(item, dict):
        raise ValueError("must be an object")
    missing = [k for k in ("file", "line_start", "severity", "title") if item.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    start = _int(item["line_start"], "line_start")
    end = _int(item.get("line_end", start) or start, "line_end")
    if start < 1 or end < 1:
        raise ValueError("line numbers must be at least 1")
    if end < start:
        start, end = end, start
    return {
        "file": _text(item["file"], "file"),
        "line_start": start,
        "line_end": end,
        "severity": _severity(item["severity"]),
        "category": _text(item.get("category") or "bug", "category").lower()[:40],
        "title": " ".join(_text(item["title"], "title").split())[:200],
        "explanation": _text(item.get("explanation") or "", "explanation"),
        "suggestion": _text(item.get("suggestion") or "", "suggestion"),
        "confidence": _confidence(item.get("confidence", 0.5)),
    }


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"{name} must be an integer, got {value!r}"[:120])


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value.strip()


def _severity(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return value.strip().lower()
    raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {value!r}"[:120])


def _confidence(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"confidence must be a number, got {value!r}"[:120]) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"confidence must be a number from 0 to 1, got {value!r}"[:120])
    return float(value)
