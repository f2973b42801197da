"""Many runners against one cap: the drill shared by the concurrency test and the benchmark."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field

from cartriage.ledger import Amount, Caps, Charge, LedgerFull, Scope, open_ledger


@dataclass
class Drill:
    """What the runners did: their settled tokens, refusals, and the highest total seen."""

    settled: int = 0
    reserved_rounds: int = 0
    refused: int = 0
    peak: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def run_drill(url: str, *, runners: int = 20, rounds: int = 200, cap: int = 1_000_000,
              seed: int = 14, timeout: float = 120.0) -> tuple[Drill, bool]:
    """`runners` threads, each with its own connection, each doing `rounds` reserve/settle/
    release rounds with random costs against one monthly token cap, while a watcher checks
    spent + held. Returns the drill and whether every runner finished within `timeout`."""
    caps = Caps(monthly_tokens=cap)
    drill = Drill()
    stop = threading.Event()
    ledgers = [open_ledger(url) for _ in range(runners + 1)]

    def runner(index: int) -> None:
        ledger, rng = ledgers[index], random.Random(seed * 1000 + index)
        scope = Scope("team/repo", f"pr-{index % 5}", uuid.uuid4().hex)
        try:
            for _ in range(rounds):
                worst = rng.randint(50, 1_500)
                try:
                    hold = ledger.reserve(scope, Amount(worst, 0.0), caps, ttl=60)
                except LedgerFull:
                    with drill._lock:
                        drill.refused += 1
                    continue
                actual = rng.randint(0, worst)
                ledger.settle(hold, scope, Charge(Amount(actual, 0.0), "unit", "single", "m"),
                              ttl=60)
                ledger.release(hold)
                with drill._lock:
                    drill.settled += actual
                    drill.reserved_rounds += 1
        except Exception as exc:  # reported by the test, not swallowed
            drill.errors.append(f"{type(exc).__name__}: {exc}")

    def watcher() -> None:
        while not stop.is_set():
            totals = ledgers[-1].totals()
            drill.peak = max(drill.peak, totals.spent.tokens + totals.reserved.tokens)
            time.sleep(0.005)

    started = time.perf_counter()
    threads = [threading.Thread(target=runner, args=(i,), daemon=True) for i in range(runners)]
    watching = threading.Thread(target=watcher, daemon=True)
    watching.start()
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    finished = not any(t.is_alive() for t in threads)
    drill.seconds = time.perf_counter() - started
    stop.set()
    watching.join()
    if finished:
        for ledger in ledgers:
            ledger.close()
    return drill, finished
