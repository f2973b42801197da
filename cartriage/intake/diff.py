"""A unified-diff parser for git diffs, `git format-patch` mails, GitHub `.diff` files and
plain `diff -u` output.

Hand-written rather than built on `unidiff`: it must read bytes that are not valid UTF-8, the
git extended headers (copies, mode changes, submodules, binary patches) and 100,000-line diffs
in well under two seconds, and it must say on which line a malformed patch breaks.
"""

from __future__ import annotations

import re

from cartriage.errors import InputError
from cartriage.intake.change import FileChange, Hunk
from cartriage.intake.language import guess_language

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_INDEX = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)(?: (\d+))?$")
_NULL_SHA = re.compile(r"^0+$")
_OCTAL = re.compile(r"[0-7]{1,3}")
_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
            '"': '"', "\\": "\\"}
_SUBMODULE_MODE = "160000"


def parse_diff(data: bytes, source: str = "diff") -> tuple[FileChange, ...]:
    """Parse a diff into files and hunks; raise InputError naming the line of a malformed patch.

    Text outside file sections (mail headers, commit messages, diffstats, signatures) is skipped.
    """
    lines = _lines(data)
    if lines and lines[-1] == "":
        lines.pop()
    files: list[FileChange] = []
    current: dict | None = None
    index = 0
    total = len(lines)
    while index < total:
        line = lines[index].removesuffix("\r")
        if line.startswith("diff --git "):
            _finish(current, files)
            current = _new_file(line)
        elif line.startswith("--- ") and index + 1 < total and \
                lines[index + 1].startswith("+++ "):
            if current is None or current["minus"] is not None:
                _finish(current, files)
                current = _new_file(None)
            current["minus"] = _path_field(line[4:])
            current["plus"] = _path_field(lines[index + 1].removesuffix("\r")[4:])
            index += 1
        elif line.startswith("@@ ") and current is not None:
            index = _read_hunk(lines, index, current, source)
            continue
        elif current is not None and not current["hunks"]:
            _header(line, current)
        index += 1
    _finish(current, files)
    if not files and (data.startswith(b"@@ ") or b"\n@@ " in data or b"\ndiff --git" in data):
        raise InputError(f"{source}: malformed patch: no file header before the first hunk")
    return tuple(files)


def _lines(data: bytes, chunk: int = 1 << 20) -> list[str]:
    """`data.decode("utf-8", errors="replace").split("\\n")`, decoded about a megabyte at a
    time (at line ends, which no UTF-8 sequence spans): the whole diff decoded at once is one
    more copy of it, of up to four bytes a character when any line is not ASCII."""
    lines: list[str] = []
    start = 0
    while (end := data.find(b"\n", start + chunk)) >= 0:
        lines += data[start:end].decode("utf-8", errors="replace").split("\n")
        start = end + 1
    return lines + data[start:].decode("utf-8", errors="replace").split("\n")


def _new_file(git_line: str | None) -> dict:
    file = {"git": git_line is not None, "minus": None, "plus": None, "status": None,
            "old_path": None, "new_path": None, "binary": False, "old_mode": None,
            "new_mode": None, "similarity": None, "old_blob": None, "new_blob": None,
            "hunks": []}
    if git_line is not None:
        file["old_path"], file["new_path"] = _split_git_paths(git_line[len("diff --git "):])
    return file


def _header(line: str, file: dict) -> None:
    if line.startswith("new file mode "):
        file["status"], file["new_mode"] = "added", line[14:].strip()
    elif line.startswith("deleted file mode "):
        file["status"], file["old_mode"] = "deleted", line[18:].strip()
    elif line.startswith("old mode "):
        file["old_mode"] = line[9:].strip()
    elif line.startswith("new mode "):
        file["new_mode"] = line[9:].strip()
    elif line.startswith(("rename from ", "copy from ")):
        file["status"] = "renamed" if line.startswith("rename") else "copied"
        file["old_path"] = _unquote(line.split(" ", 2)[2])
    elif line.startswith(("rename to ", "copy to ")):
        file["new_path"] = _unquote(line.split(" ", 2)[2])
    elif line.startswith(("similarity index ", "dissimilarity index ")):
        digits = line.rsplit(" ", 1)[1].rstrip("%")
        file["similarity"] = int(digits) if digits.isdigit() else None
    elif line.startswith("index "):
        match = _INDEX.match(line)
        if match:
            old, new, mode = match.groups()
            file["old_blob"] = None if _NULL_SHA.match(old) else old
            file["new_blob"] = None if _NULL_SHA.match(new) else new
            if mode:
                file["old_mode"] = file["old_mode"] or mode
                file["new_mode"] = file["new_mode"] or mode
    elif line.startswith("Binary files ") or line == "GIT binary patch":
        file["binary"] = True


def _read_hunk(lines: list[str], start: int, file: dict, source: str) -> int:
    """Read one hunk by its header's line counts; return the index after it."""
    header = lines[start].removesuffix("\r")
    match = _HUNK.match(header)
    if not match:
        raise InputError(f"{source}: malformed patch: line {start + 1}: bad hunk header "
                         f"{header[:60]!r}")
    old_start, old_count, new_start, new_count, section = match.groups()
    old_left = 1 if old_count is None else int(old_count)
    new_left = 1 if new_count is None else int(new_count)
    body: list[str] = []
    index = start + 1
    total = len(lines)
    while index < total and (old_left > 0 or new_left > 0):
        line = lines[index].removesuffix("\r")
        kind = line[:1]
        if kind == "+":
            new_left -= 1
        elif kind == "-":
            old_left -= 1
        elif kind == " " or line == "":
            line = line or " "
            old_left -= 1
            new_left -= 1
        elif kind != "\\":
            raise InputError(f"{source}: malformed patch: line {index + 1}: hunk ends early "
                             f"(expected {old_left} old and {new_left} new lines more)")
        body.append(line)
        index += 1
    if old_left > 0 or new_left > 0 or old_left < 0 or new_left < 0:
        raise InputError(f"{source}: malformed patch: line {index}: hunk at line {start + 1} "
                         "does not match its header's line counts")
    while index < total and lines[index].startswith("\\"):
        body.append(lines[index].removesuffix("\r"))
        index += 1
    file["hunks"].append(Hunk(int(old_start), 1 if old_count is None else int(old_count),
                              int(new_start), 1 if new_count is None else int(new_count),
                              section, tuple(body)))
    return index


def _finish(file: dict | None, files: list[FileChange]) -> None:
    if file is None:
        return
    old_path, new_path = file["old_path"], file["new_path"]
    if file["minus"] is not None:
        minus, plus = file["minus"], file["plus"]
        if minus is not None and minus != "/dev/null" and file["status"] not in ("renamed",
                                                                                 "copied"):
            old_path = _strip_prefix(minus, "a/", file["git"])
        if plus is not None and plus != "/dev/null" and file["status"] not in ("renamed",
                                                                               "copied"):
            new_path = _strip_prefix(plus, "b/", file["git"])
        if minus == "/dev/null":
            file["status"] = file["status"] or "added"
        if plus == "/dev/null":
            file["status"] = file["status"] or "deleted"
    status = file["status"] or "modified"
    if status == "added":
        old_path = None
    path = (old_path if status == "deleted" else new_path) or old_path or new_path
    if path is None:
        return
    hunks = tuple(file["hunks"])
    added = sum(1 for h in hunks for line in h.lines if line[:1] == "+")
    removed = sum(1 for h in hunks for line in h.lines if line[:1] == "-")
    submodule = _SUBMODULE_MODE in (file["old_mode"], file["new_mode"]) or (
        bool(hunks) and all(line[1:].startswith("Subproject commit ")
                            for h in hunks for line in h.lines if line[:1] in "+-"))
    files.append(FileChange(
        path=path,
        old_path=None if status == "added" else old_path,
        status=status,
        language=None if submodule else guess_language(path),
        binary=file["binary"],
        old_mode=file["old_mode"],
        new_mode=file["new_mode"],
        similarity=file["similarity"],
        submodule=submodule,
        old_blob=file["old_blob"],
        new_blob=file["new_blob"],
        hunks=hunks,
        added=added,
        removed=removed,
    ))


def _path_field(value: str) -> str:
    """The path of a ---/+++ line, without a trailing timestamp (plain `diff -u`)."""
    value = value.removesuffix("\r")
    if value.startswith('"'):
        return _unquote(value)
    return value.split("\t", 1)[0].rstrip() if "\t" in value else value.rstrip()


def _strip_prefix(path: str, prefix: str, git: bool) -> str:
    if path.startswith(prefix):
        return path[len(prefix):]
    if git and "/" in path and path.split("/", 1)[0] in ("a", "b", "i", "w", "c", "o"):
        return path.split("/", 1)[1]
    return path


def _split_git_paths(rest: str) -> tuple[str | None, str | None]:
    """Split `a/x b/y` (possibly quoted) from a `diff --git` line."""
    rest = rest.strip()
    if not rest:
        return None, None
    if rest.startswith('"'):
        old, tail = _take_quoted(rest)
        new = _unquote(tail.strip())
        return _strip_prefix(old, "a/", True), _strip_prefix(new, "b/", True)
    if rest.endswith('"') and ' "' in rest:
        split = rest.index(' "')
        return (_strip_prefix(rest[:split], "a/", True),
                _strip_prefix(_unquote(rest[split + 1:]), "b/", True))
    # Unquoted: both halves are equal for anything but renames, whose names come later anyway.
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:half].removeprefix("a/") == rest[half + 1:].removeprefix("b/"):
        return _strip_prefix(rest[:half], "a/", True), _strip_prefix(rest[half + 1:], "b/", True)
    parts = rest.split(" b/", 1)
    if len(parts) == 2:
        return _strip_prefix(parts[0], "a/", True), parts[1]
    return None, None


def _take_quoted(value: str) -> tuple[str, str]:
    end = 1
    while end < len(value):
        if value[end] == "\\":
            end += 2
            continue
        if value[end] == '"':
            break
        end += 1
    return _unquote(value[: end + 1]), value[end + 1:]


def _unquote(value: str) -> str:
    """Undo git's C-style path quoting, including octal-escaped UTF-8 bytes."""
    value = value.strip()
    if not (len(value) >= 2 and value.startswith('"') and value.endswith('"')):
        return value
    body, out, index = value[1:-1], bytearray(), 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            octal = _OCTAL.match(body, index + 1)
            if octal and int(octal.group(), 8) <= 255:  # git writes bytes as \ooo
                out.append(int(octal.group(), 8))
                index = octal.end()
                continue
            out += _ESCAPES.get(nxt, nxt).encode()
            index += 2
            continue
        out += char.encode()
        index += 1
    return out.decode("utf-8", errors="replace")
