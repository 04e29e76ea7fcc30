from __future__ import annotations

import threading

from bot.edges.store import SCHEMA_VERSION, Store
from tests.conftest import in_threads


def test_schema_created_and_versioned(db_url: str) -> None:
    s = Store(db_url)
    assert s.schema_version() == SCHEMA_VERSION
    s.close()
    again = Store(db_url)  # opening an existing file keeps the data and the version
    assert again.schema_version() == SCHEMA_VERSION
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


def test_an_old_database_is_upgraded_in_place(tmp_path: object) -> None:
    """A version-1 file (before partners.locate_profile) is migrated at start, keeping its rows."""
    import sqlite3
    from pathlib import Path

    from sqlalchemy import select

    from bot.edges.store import partners

    path = Path(str(tmp_path)) / "old.sqlite3"
    s = Store(f"sqlite:///{path}")
    s.close()
    con = sqlite3.connect(path)  # make it look like schema 1: no locate_profile column, version 1
    con.execute("ALTER TABLE partners DROP COLUMN locate_profile")
    con.execute("INSERT INTO partners (institution, code, name, symbol, state, created_by, created_at, updated_at,"
                " before, after) VALUES ('GWA', 'P1', 'Old', 'S', 'previewed', 'u', '2026-01-01', '2026-01-01', '', '')")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    upgraded = Store(f"sqlite:///{path}")
    assert upgraded.schema_version() == SCHEMA_VERSION == 2
    with upgraded.engine.connect() as conn:
        row = conn.execute(select(partners)).one()
    assert row.code == "P1" and row.locate_profile == ""
    upgraded.close()


def test_a_newer_database_is_refused(db_url: str) -> None:
    import pytest
    from sqlalchemy import update

    from bot.edges.store import SchemaError, meta

    s = Store(db_url)
    with s.begin() as conn:
        conn.execute(update(meta).values(value="99"))
    s.close()
    with pytest.raises(SchemaError, match="newer than this p2p-bot"):
        Store(db_url)
