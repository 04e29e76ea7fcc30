"""One Alma calls-per-second budget per institution, shared by every process that uses the same store.

Alma allows about 25 calls per second per institution, counted over all keys and all programs. `serve`,
`clock`, `sync` and a CLI `lookup` are separate processes, so an in-process limiter cannot keep them under
it together. :class:`SharedBudget` keeps the next free call slot of each institution in one row of the
store (``rate_budget``): taking a slot is a single atomic ``UPDATE … RETURNING`` (SQLite and PostgreSQL),
which moves the row's ``next_at`` on by ``1/rate`` seconds. Callers then sleep until their slot, so calls are
spaced evenly (``rate`` per second, no bursts) whatever the number of threads and processes; a caller that
wakes up well after its slot (a busy machine) queues again rather than crowding the slots after it.

Slots are wall-clock times (``time.time()``): processes on one machine agree; on several machines sharing
one PostgreSQL keep their clocks in sync (NTP). If the store cannot be reached, the budget falls back to
pacing within this process and logs it, so Alma calls never fail because of the budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, case, insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

log = logging.getLogger(__name__)
LATE = 0.1  # seconds after its slot that a call still goes; later, it queues again


def budget_table(metadata: MetaData) -> Table:
    return Table(
        "rate_budget", metadata,
        Column("key", String(255), primary_key=True),  # institution code @ API host
        Column("next_at", Float, nullable=False),  # the next free call slot, seconds since the epoch
    )


class LocalPacer:
    """Evenly spaced calls within one process (the fallback, and for tests that need no store)."""

    def __init__(self, rate: float = 20.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        with self._lock:
            slot = max(self._clock(), self._next)
            self._next = slot + self.interval
            return slot

    def acquire(self) -> float:
        slot = self.reserve()
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)
        return slot


class SharedBudget:
    """A limiter for :class:`bot.edges.alma.client.AlmaClient`: ``acquire()`` waits for this process's
    turn in the institution's budget and returns the slot it was given."""

    def __init__(self, engine: Engine, table: Table, key: str, rate: float = 20.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 lock: AbstractContextManager[object] | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.engine = engine
        self.table = table
        self.key = key[:255]
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._local = LocalPacer(rate, clock, sleep)
        self._writing: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self._warned = False

    def reserve(self) -> float:
        """Take the next slot (a time, possibly in the future) without waiting for it."""
        t = self.table
        for _attempt in range(3):
            now = self._clock()
            with self._writing, self.engine.begin() as conn:
                after = conn.execute(
                    update(t).where(t.c.key == self.key)
                    .values(next_at=case((t.c.next_at > now, t.c.next_at), else_=now) + self.interval)
                    .returning(t.c.next_at)).scalar()
            if after is not None:
                return float(after) - self.interval
            try:
                with self._writing, self.engine.begin() as conn:
                    conn.execute(insert(t).values(key=self.key, next_at=now + self.interval))
                return now
            except IntegrityError:  # another process made the row first; take a slot from it
                continue
        return self._local.reserve()

    def acquire(self) -> float:
        for _attempt in range(3):
            try:
                slot = self.reserve()
            except SQLAlchemyError as exc:
                if not self._warned:
                    log.warning("shared Alma rate budget unavailable (%s); pacing within this process only",
                                type(exc).__name__)
                    self._warned = True
                return self._local.acquire()
            wait = slot - self._clock()
            if wait > 0:
                self._sleep(wait)
            if self._clock() - slot <= LATE:
                return slot
            # woke up well after the slot (a busy machine): going now would crowd the calls of the slots
            # after it, so take a new slot at the end of the queue instead
        return slot
