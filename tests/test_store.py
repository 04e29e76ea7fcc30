from __future__ import annotations

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
