"""The budget as a hard cap, shared by concurrent units.

Each call follows one shape: reserve -> call -> settle. A unit reserves the worst case of its
planned calls before the first one (prompt estimate plus `max_output_tokens` per call, both
scaled by what the provider has been seen to bill); each call's charge is computed in one place,
`call_charge`, and moved from the reservation into `spent`. `spent + reserved` never exceeds the
cap, and a call is not made when its worst case no longer fits.

A call is charged the larger of what the provider reports and cartriage's own count (prompt as
sent, completion as received). Usage that is missing, zero, negative or not a number is unknown,
never free: such a call is charged by the own count and never below what was reserved for it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


@dataclass
class Cost:
    tokens: int = 0
    usd: float | None = 0.0  # None: the model has no known price


def usage_count(value: object) -> int | None:
    """A token count a provider reported, or None when it is missing, negative or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return math.ceil(value)


def call_charge(reported: tuple[object, object], counted: tuple[int, int],
                reserved: tuple[int, int]) -> tuple[int, int, bool]:
    """(prompt, completion, usage known) to charge for one call.

    `reported` is the provider's (prompt, completion) usage, `counted` cartriage's own count,
    `reserved` the worst case reserved for the call. A report with no positive prompt count is
    unknown: the call is charged the larger of the own count and the reservation.
    """
    prompt, completion = usage_count(reported[0]), usage_count(reported[1])
    if not prompt or completion is None:
        return max(counted[0], reserved[0]), max(counted[1], reserved[1]), False
    return max(prompt, counted[0]), max(completion, counted[1]), True


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

    def reserve(self, cost: Cost, wait: bool = True, *, unit_id: str = "", strategy: str = "",
                model: str = "") -> Reservation:
        """Reserve `cost`, waiting while other reservations may free room; OverBudget if never.
        What the reservation is for (unit, strategy, model) matters only to a ledger."""
        self._check_priced(cost)
        with self._lock:
            while True:
                if not self._fits(cost, self.spent):
                    raise OverBudget(self._why(cost))
                if self._fits(cost, self._committed()):
                    self.reserved.tokens += cost.tokens
                    self.reserved.usd += cost.usd or 0.0
                    return Reservation(cost.tokens, cost.usd or 0.0)
                if not wait or self._nothing_reserved():  # no one can free room
                    raise OverBudget(self._why(cost))
                self._lock.wait()

    def take(self, unit: Reservation, cost: Cost) -> Reservation:
        """Set `cost` aside for one call out of the unit's reservation, first growing that from
        free budget when it is short (OverBudget if it cannot). Calls of one unit running at the
        same time each hold their own part, so they cannot both count on the same tokens."""
        self._check_priced(cost)
        with self._lock:
            short = self.shortfall(unit, cost)
            if (short.tokens or short.usd) and not self._fits(short, self._committed()):
                raise OverBudget(self._why(cost))
            self.reserved.tokens += short.tokens
            self.reserved.usd += short.usd or 0.0
            unit.tokens += short.tokens - cost.tokens
            unit.usd += (short.usd or 0.0) - (cost.usd or 0.0)
            return Reservation(cost.tokens, cost.usd or 0.0)

    @staticmethod
    def shortfall(unit: Reservation, cost: Cost) -> Cost:
        """What the unit's reservation lacks to hold `cost`."""
        return Cost(max(0, cost.tokens - unit.tokens), max(0.0, (cost.usd or 0.0) - unit.usd))

    def settle(self, unit: Reservation, call: Reservation, actual: Cost) -> None:
        """Charge a call's `actual` cost to `spent`; what its reservation did not use goes back
        to the unit's."""
        with self._lock:
            self.spent.tokens += actual.tokens
            self.spent.usd += actual.usd or 0.0
            used_tokens = min(actual.tokens, call.tokens)
            used_usd = min(actual.usd or 0.0, call.usd)
            self.reserved.tokens -= used_tokens
            self.reserved.usd -= used_usd
            unit.tokens += call.tokens - used_tokens
            unit.usd += call.usd - used_usd
            call.tokens, call.usd = 0, 0.0

    def release(self, reservation: Reservation) -> None:
        """Give back what a finished unit did not spend, and wake units waiting for room."""
        with self._lock:
            self.reserved.tokens -= reservation.tokens
            self.reserved.usd -= reservation.usd
            reservation.tokens = 0
            reservation.usd = 0.0
            self._lock.notify_all()

    def _nothing_reserved(self) -> bool:
        """No reservation is held (USD sums of settled calls leave float dust, not dollars)."""
        return self.reserved.tokens <= 0 and self.reserved.usd < 1e-9

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
