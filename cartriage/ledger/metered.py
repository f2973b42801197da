"""A run's budget that also keeps the ledger's caps: what every run of a PR, and every runner
sharing the ledger, may spend.

Each unit's reservation is made first in the run (its own `[budget] tokens`/`usd`), then in the
ledger (per-PR and monthly caps); each call's real usage is settled in the ledger as it is
charged, and what is left is released when the unit ends. A ledger that cannot be reached
refuses the reservation: nothing is ever spent unmetered.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

from cartriage.ledger import Amount, Charge, LedgerFull, LedgerUnavailable
from cartriage.review.budget import Budget, Cost, OverBudget, Reservation

SETTLE_RETRIES = (0.2, 1.0, 3.0)  # seconds between tries when the ledger does not answer


@dataclass
class Held(Reservation):
    """A run reservation backed by a ledger hold."""

    hold: str = ""
    unit_id: str = ""
    strategy: str = ""
    model: str = ""


class MeteredBudget(Budget):
    def __init__(self, tokens: int | None, usd: float | None, session):
        super().__init__(tokens, usd)
        self.session = session
        self.unsettled: list[tuple[Held, Charge]] = []  # spend the ledger did not take yet
        self.problems: list[str] = []
        self._problems_lock = threading.Lock()

    def reserve(self, cost: Cost, wait: bool = True, *, unit_id: str = "", strategy: str = "",
                model: str = "") -> Reservation:
        if self.session.caps.usd and cost.usd is None:
            raise OverBudget("the model has no price in litellm's cost map, so the ledger's USD "
                             "caps cannot be kept; set token caps")
        local = super().reserve(cost, wait)
        session = self.session
        try:
            hold = session.ledger.reserve(session.scope, _amount(cost), session.caps,
                                          session.ttl)
        except (LedgerFull, LedgerUnavailable) as exc:
            super().release(local)
            if isinstance(exc, LedgerUnavailable):
                self._problem(str(exc))
            raise OverBudget(str(exc)) from None
        return Held(local.tokens, local.usd, hold, unit_id, strategy, model)

    def take(self, unit: Reservation, cost: Cost) -> Reservation:
        """The run's `take`, after the ledger's hold has grown by what the unit lacks."""
        with self._lock:  # re-entrant: the shortfall cannot change before the run takes it
            short = self.shortfall(unit, cost)
            if short.tokens or short.usd:
                session = self.session
                try:
                    session.ledger.extend(_hold(unit), session.scope, _amount(short),
                                          session.caps, session.ttl)
                except (LedgerFull, LedgerUnavailable) as exc:
                    if isinstance(exc, LedgerUnavailable):
                        self._problem(str(exc))
                    raise OverBudget(str(exc)) from None
            return super().take(unit, cost)

    def settle(self, unit: Reservation, call: Reservation, actual: Cost) -> None:
        super().settle(unit, call, actual)
        held = unit if isinstance(unit, Held) else Held()
        charge = Charge(_amount(actual), held.unit_id, held.strategy, held.model)
        if not self._settle(held, charge):
            with self._problems_lock:
                self.unsettled.append((held, charge))

    def release(self, reservation: Reservation) -> None:
        super().release(reservation)
        with contextlib.suppress(LedgerUnavailable):  # the hold then expires on its own
            self.session.ledger.release(_hold(reservation))

    def settle_late(self) -> list[Charge]:
        """Try once more to record spend the ledger missed; what is still unrecorded."""
        self.unsettled = [(held, charge) for held, charge in self.unsettled
                          if not self._settle(held, charge, retries=())]
        return [charge for _, charge in self.unsettled]

    def _settle(self, held: Held, charge: Charge, retries: tuple[float, ...] | None = None
                ) -> bool:
        session = self.session
        for delay in (*(SETTLE_RETRIES if retries is None else retries), None):
            try:
                session.ledger.settle(held.hold, session.scope, charge, session.ttl)
                return True
            except LedgerUnavailable as exc:
                self._problem(str(exc))
                if delay is None:
                    return False
                time.sleep(delay)
        return False

    def _problem(self, message: str) -> None:
        with self._problems_lock:
            self.problems.append(message)


def _amount(cost: Cost) -> Amount:
    return Amount(cost.tokens, cost.usd or 0.0)


def _hold(reservation: Reservation) -> str:
    return reservation.hold if isinstance(reservation, Held) else ""
