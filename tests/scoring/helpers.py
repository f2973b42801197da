"""Change records in the shared JSONL schema, built from small diffs."""

from __future__ import annotations

import json
from pathlib import Path


def file_diff(path: str, added: list[str], removed: list[str] = ()) -> str:
    removed = list(removed)
    head = f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n"
    head += f"--- a/{path}\n+++ b/{path}\n"
    lines = [" context"] + [f"-{line}" for line in removed] + [f"+{line}" for line in added]
    header = f"@@ -1,{1 + len(removed)} +1,{1 + len(added)} @@\n"
    return head + header + "\n".join(lines) + "\n"


def record(name: str, title: str, files: dict[str, list[str]] | None = None,
           labels: tuple[str, str] | None = None, repo: str = "acme/app") -> dict:
    out = {"id": f"{repo}@{name}", "repo": repo, "title": title, "message": title}
    if files is not None:
        out["diff"] = "".join(file_diff(path, lines) for path, lines in files.items())
    if labels:
        out["labels"] = {"consequence": labels[0], "difficulty": labels[1], "reason": "x"}
        out["signals"] = {"reverted": False, "referenced_as_cause": False}
    return out


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path
