"""The analysis contract: what each changed file touches, with evidence, and the review units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SymbolChange = Literal["added", "removed", "modified"]


@dataclass(frozen=True, slots=True)
class RoleHit:
    """A role a file plays (`migration`, `security`, `core`, ...) and what showed it."""

    role: str
    evidence: str


@dataclass(frozen=True, slots=True)
class Symbol:
    """A function, method or class that a hunk falls in, qualified (`Class.method`)."""

    name: str
    kind: str
    change: SymbolChange
    public: bool
    signature_changed: bool = False
    old_signature: str | None = None
    new_signature: str | None = None
    fan_in: int | None = None  # files importing this name from the file, where imports name it


@dataclass(frozen=True, slots=True)
class FileFacts:
    """Facts about one changed file. `fan_in` is None when no repository was indexed."""

    path: str
    language: str | None
    roles: tuple[RoleHit, ...] = ()
    symbols: tuple[Symbol, ...] = ()
    fan_in: int | None = None
    fan_in_percentile: float | None = None
    parsed: bool = False
    notes: tuple[str, ...] = ()
    importers: tuple[str, ...] = ()  # a few of the files that import this one, for evidence

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(hit.role for hit in self.roles))

    @property
    def signature_changed(self) -> bool:
        """Some changed symbol's signature (parameters, return type, bases) changed."""
        return any(s.signature_changed for s in self.symbols)

    @property
    def public_api_changed(self) -> bool:
        """A public symbol's signature changed or a public symbol was removed."""
        return any(s.public and (s.signature_changed or s.change == "removed")
                   for s in self.symbols)

    @property
    def symbol_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({s.kind for s in self.symbols}))


@dataclass(frozen=True, slots=True)
class Unit:
    """A review unit: one file, or a group of its hunks when the file's change is large.

    `lines` is a slice [start, end) of the one hunk's lines when that hunk alone is larger than
    a unit may be; `skip_reason` says why the unit has nothing to send (binary file, submodule).
    """

    id: str
    path: str
    hunks: tuple[int, ...]
    added: int
    removed: int
    lines: tuple[int, int] | None = None
    skip_reason: str = ""


@dataclass(frozen=True, slots=True)
class Analysis:
    """Facts for every reviewed file, the units to review, and repository-level notes."""

    files: tuple[FileFacts, ...]
    units: tuple[Unit, ...]
    indexed_files: int | None = None
    notes: tuple[str, ...] = ()

    def facts(self, path: str) -> FileFacts | None:
        return next((f for f in self.files if f.path == path), None)
