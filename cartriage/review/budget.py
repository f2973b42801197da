"""The budget as a hard cap, shared by concurrent units.

A unit reserves the worst case of its planned calls before the first one (prompt estimate plus
`max_output_tokens` per call); each reply's real usage is charged and the unused part of its
estimate goes back to the unit. `spent + reserved` never exceeds the cap, so real spend cannot,
as long as a provider does not bill more than the estimate (estimates carry a margin and are
calibrated by the replies seen so far, see `llm.Client.estimate`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Cost:
    tokens: int = 0
    usd: float | None = 0.0  # None: the model has no known price


class OverBudget(Exception):
    """The call could push spend over the budget, so it was not made."""


@dataclass
class Reservation:
    tokens: int = 0
    usd: float = 0.0


class Budget:
    """Caps in tokens and/or USD (None: no cap on that axis); thread-safe."""

    def __init__(self, tokens: int | None, usd: float | None):
        self.cap_tokens = tokens
        self.cap_usd = usd
        self.spent = Reservation()
        self.reserved = Reservation()
        self._lock = threading.Condition()

    def reserve(self, cost: Cost, wait: bool = True) -> Reservation:
        """Reserve `cost`, waiting while other reservations may free room; OverBudget if never."""
        self._check_priced(cost)
        with self._lock:
            while True:
                if not self._fits(cost, self.spent):
                    raise OverBudget(self._why(cost))
                if self._fits(cost, self._committed()):
                    self.reserved.tokens += cost.tokens
                    self.reserved.usd += cost.usd or 0.0
                    return Reservation(cost.tokens, cost.usd or 0.0)
                if not wait or (self.reserved.tokens == 0 and self.reserved.usd == 0):
                    raise OverBudget(self._why(cost))
                self._lock.wait()

    def extend(self, reservation: Reservation, cost: Cost) -> None:
        """Grow a reservation to hold `cost` more, without waiting (OverBudget if it cannot)."""
        self._check_priced(cost)
        with self._lock:
            if not self._fits(cost, self._committed()):
                raise OverBudget(self._why(cost))
            self.reserved.tokens += cost.tokens
            self.reserved.usd += cost.usd or 0.0
            reservation.tokens += cost.tokens
            reservation.usd += cost.usd or 0.0

    def take(self, reservation: Reservation, cost: Cost) -> None:
        """Make sure the reservation holds `cost` for the next call, extending it if needed."""
        short = Cost(max(0, cost.tokens - reservation.tokens),
                     None if cost.usd is None else max(0.0, cost.usd - reservation.usd))
        if short.tokens or short.usd or (cost.usd is None and self.cap_usd is not None):
            self.extend(reservation, short)

    def charge(self, reservation: Reservation, actual: Cost) -> None:
        """Move real spend out of the reservation into `spent`."""
        with self._lock:
            self.spent.tokens += actual.tokens
            self.spent.usd += actual.usd or 0.0
            used_tokens = min(actual.tokens, reservation.tokens)
            used_usd = min(actual.usd or 0.0, reservation.usd)
            reservation.tokens -= used_tokens
            reservation.usd -= used_usd
            self.reserved.tokens -= used_tokens
            self.reserved.usd -= used_usd

    def release(self, reservation: Reservation) -> None:
        """Give back what a finished unit did not spend, and wake units waiting for room."""
        with self._lock:
            self.reserved.tokens -= reservation.tokens
            self.reserved.usd -= reservation.usd
            reservation.tokens = 0
            reservation.usd = 0.0
            self._lock.notify_all()

    def _committed(self) -> Reservation:
        return Reservation(self.spent.tokens + self.reserved.tokens,
                           self.spent.usd + self.reserved.usd)

    def _fits(self, cost: Cost, base: Reservation) -> bool:
        if self.cap_tokens is not None and base.tokens + cost.tokens > self.cap_tokens:
            return False
        return self.cap_usd is None or base.usd + (cost.usd or 0.0) <= self.cap_usd + 1e-12

    def _check_priced(self, cost: Cost) -> None:
        if self.cap_usd is not None and cost.usd is None:
            raise OverBudget("the model has no price in litellm's cost map, so a USD budget "
                             "cannot be kept; set a token budget")

    def _why(self, cost: Cost) -> str:
        parts = []
        if self.cap_tokens is not None:
            left = self.cap_tokens - self.spent.tokens
            parts.append(f"needs up to {cost.tokens:,} tokens, {left:,} of "
                         f"{self.cap_tokens:,} left")
        if self.cap_usd is not None:
            parts.append(f"needs up to ${cost.usd or 0:.4f}, ${self.cap_usd - self.spent.usd:.4f} "
                         f"of ${self.cap_usd:.4f} left")
        return "; ".join(parts)
