from __future__ import annotations

import itertools
import threading

from bot.edges.store import Store, head_revision
from tests.conftest import in_threads


def test_schema_created_and_versioned(new_db_url: str) -> None:
    s = Store(new_db_url)
    assert s.schema_version() == head_revision()
    s.close()
    again = Store(new_db_url)  # opening an existing file keeps the data and the version
    assert again.schema_version() == head_revision()
    again.close()


def test_claim_is_won_once_across_threads(store: Store) -> None:
    wins: list[bool] = []

    def race() -> None:
        wins.append(store.claim("morning", "#rs", "2026-11-29", by=threading.current_thread().name))

    in_threads(race, 8)
    assert wins.count(True) == 1
    store.release("morning", "#rs", "2026-11-29")
    assert store.claim("morning", "#rs", "2026-11-29")


def test_seen_event_and_cache(store: Store) -> None:
    assert store.seen_event("slack:Ev1") is False
    assert store.seen_event("slack:Ev1") is True
    store.cache_put("k", {"a": 1})
    store.cache_put("k", {"a": 2})
    got = store.cache_get("k")
    assert got is not None and got[0] == {"a": 2}


def test_sqlite_writers_of_one_process_queue_on_one_lock(new_db_url: str) -> None:
    """Every write transaction on one SQLite file in this process (the store's and the rate budget's) takes
    the same lock, so writers queue in Python instead of sleeping in SQLite's busy handler; a server
    database has none. Two threads both inside a write would mean the lock is not shared."""
    from bot.edges.store import write_lock

    a, b = Store(new_db_url), Store(new_db_url)
    try:
        assert a._writing is b._writing is write_lock(new_db_url)
        assert a.budget("GWA", 20.0)._writing is a._writing
        inside, most = [0], [0]
        guard = threading.Lock()

        turn = itertools.count()

        def write() -> None:
            with (a if next(turn) % 2 else b).begin():
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                threading.Event().wait(0.002)
                with guard:
                    inside[0] -= 1

        in_threads(write, 8)
        assert most[0] == 1
    finally:
        a.close()
        b.close()
    assert type(write_lock("postgresql+psycopg://u@h/db")).__name__ == "nullcontext"
