"""The spend ledger: per-PR and team budgets that hold across runs and runners.

The contract (`Ledger`): `reserve` the worst case of a unit's calls against the caps before the
first call, `settle` each call's real usage (the spend is recorded even if its reservation has
expired), `release` what is left, and query what was spent. A reservation expires after
`ttl` seconds without a settle, so a runner that dies holds nothing forever. The ledger also keeps
per-PR records of reviewed units and their findings, for incremental re-review.

Backends share one protocol: SQLite (`sqlite.py`, the default, a file) and PostgreSQL through
psycopg 3 (`postgres.py`, for a team). `open_ledger(url)` picks one; nothing here is imported by
a plan (the review runner loads this package only when a ledger is configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from cartriage.errors import EXIT_INCOMPLETE, CartriageError


class LedgerUnavailable(CartriageError):
    """The ledger cannot be opened or written: spending is refused (exit 4)."""

    exit_code = EXIT_INCOMPLETE


class LedgerFull(Exception):
    """A reservation would take spend past a cap; the message says which."""


@dataclass(frozen=True)
class Scope:
    """Who is spending: the repository, the pull request ("" for none) and this run."""

    repository: str
    pr: str
    run_id: str


@dataclass(frozen=True)
class Caps:
    """Limits kept by the ledger (None: no cap on that axis)."""

    per_pr_tokens: int | None = None
    per_pr_usd: float | None = None
    monthly_tokens: int | None = None
    monthly_usd: float | None = None

    @property
    def usd(self) -> bool:
        return self.per_pr_usd is not None or self.monthly_usd is not None


@dataclass(frozen=True)
class Amount:
    tokens: int = 0
    usd: float = 0.0


@dataclass(frozen=True)
class Charge:
    """One call's real usage, and what it was for."""

    amount: Amount
    unit_id: str = ""
    strategy: str = ""
    model: str = ""


@dataclass(frozen=True)
class UnitRecord:
    """A unit reviewed in a PR: its content key, how, what it cost and what it found."""

    content: str  # hash of the unit's path and changed lines, without line numbers
    strategy: str
    model: str
    unit_id: str
    path: str
    run_id: str
    tokens: int
    usd: float
    findings: tuple[dict, ...] = ()


@dataclass(frozen=True)
class RunRecord:
    """One review run of a PR: what it reviewed now, what it reused, and what each cost."""

    run_id: str
    reviewed: int
    reused: int
    tokens: int
    usd: float
    reused_tokens: int
    reused_usd: float
    at: float = 0.0  # filled by the ledger


@dataclass(frozen=True)
class SpendRow:
    """Settled spend summed over one (month, repository, pr, strategy, model)."""

    month: str
    repository: str
    pr: str
    strategy: str
    model: str
    calls: int
    tokens: int
    usd: float


@dataclass(frozen=True)
class Totals:
    """Settled spend and active reservations over a scope."""

    spent: Amount = field(default_factory=Amount)
    reserved: Amount = field(default_factory=Amount)


class Ledger(Protocol):
    """What every backend provides; each method is one transaction."""

    url: str  # with any password masked: safe to print

    def reserve(self, scope: Scope, amount: Amount, caps: Caps, ttl: float) -> str:
        """Hold `amount` against `caps` and return the hold's id; LedgerFull if it cannot fit."""

    def extend(self, hold: str, scope: Scope, amount: Amount, caps: Caps, ttl: float) -> None:
        """Grow a hold by `amount` (LedgerFull if it cannot fit, or the hold has expired)."""

    def settle(self, hold: str, scope: Scope, charge: Charge, ttl: float) -> None:
        """Record real spend and take it out of the hold (recorded even if the hold expired)."""

    def release(self, hold: str) -> None:
        """Drop what is left of a hold."""

    def totals(self, scope: Scope | None = None, month: str | None = None) -> Totals:
        """Spend and active holds of one PR (`scope`), one month, or everything."""

    def spend(self, repository: str | None = None, pr: str | None = None) -> list[SpendRow]:
        """Settled spend by month, repository, PR, strategy and model."""

    def remember_unit(self, scope: Scope, record: UnitRecord) -> None:
        """Keep a reviewed unit and its findings for later runs of the same PR."""

    def reviewed_units(self, scope: Scope) -> dict[tuple[str, str, str], UnitRecord]:
        """The PR's reviewed units by (content, strategy, model)."""

    def record_run(self, scope: Scope, run: RunRecord) -> None:
        """Keep one run's summary for `cartriage spend --pr`."""

    def runs(self, repository: str, pr: str) -> list[RunRecord]:
        """A PR's runs, oldest first."""

    def close(self) -> None: ...


def open_ledger(url: str) -> Ledger:
    """The backend for `url` (`postgresql://...` or a SQLite path), schema created or migrated;
    LedgerUnavailable (one line, no credentials) when it cannot be opened."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from cartriage.ledger import postgres
        except ImportError:
            raise LedgerUnavailable(f"ledger {masked(url)}: PostgreSQL needs psycopg 3: "
                                    "pip install 'cartriage[postgres]'") from None
        return postgres.open_ledger(url)
    from cartriage.ledger import sqlite

    return sqlite.open_ledger(url.removeprefix("sqlite:///").removeprefix("sqlite://"))


def masked(url: str) -> str:
    """`url` with any password replaced by ***: safe to print."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)
