"""The store's schema revisions (Alembic) on SQLite; tests/test_postgres.py repeats the checks on PostgreSQL.

A table or column added to ``bot/edges/store.py`` without a revision fails ``test_revisions_build_the_metadata``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text

from bot.edges.store import BASELINE, SchemaError, Store, _script, head_revision, metadata, partners, upgrade
from tests.conftest import in_threads


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))


def make_legacy(engine: Engine, version: int) -> None:
    """A database as the store made it before Alembic: the baseline tables and `meta.schema_version`."""
    upgrade(engine, to=BASELINE)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"), {"v": str(version)})
        if version < 2:
            conn.execute(text("ALTER TABLE partners DROP COLUMN locate_profile"))
            conn.execute(text(
                "INSERT INTO partners (institution, code, name, symbol, state, created_by, created_at, updated_at,"
                " before, after) VALUES ('GWA', 'P1', 'Old', 'S', 'previewed', 'u', '2026-01-01', '2026-01-01', '', '')"))
        else:
            conn.execute(text(
                "INSERT INTO partners (institution, code, name, symbol, locate_profile, state, created_by, created_at,"
                " updated_at, before, after) VALUES ('GWA', 'P1', 'Old', 'S', 'LP', 'previewed', 'u', '2026-01-01',"
                " '2026-01-01', '', '')"))


def test_one_head() -> None:
    heads = _script().get_heads()
    assert len(heads) == 1, f"two revisions share a parent, chain one after the other: {heads}"


def test_revisions_build_the_metadata(new_db_url: str) -> None:
    store = Store(new_db_url)
    assert store.schema_version() == head_revision()
    assert schema_diff(store.engine) == [], "store.py's tables differ from the revisions: add a revision"
    store.close()


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_from_before_alembic_is_adopted(tmp_path: Path, version: int) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    make_legacy(engine, version)
    engine.dispose()
    store = Store(url)
    assert store.schema_version() == head_revision()
    assert schema_diff(store.engine) == []
    assert "meta" not in inspect(store.engine).get_table_names()
    with store.engine.connect() as conn:
        row = conn.execute(select(partners)).one()
    assert (row.code, row.name, row.locate_profile) == ("P1", "Old", "" if version == 1 else "LP")
    store.close()


def test_a_newer_legacy_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    engine = create_engine(url)
    make_legacy(engine, 2)
    with engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '99'"))
    engine.dispose()
    with pytest.raises(SchemaError, match="newer than this p2p-bot"):
        Store(url)


def test_a_database_from_a_newer_release_is_refused(db_url: str) -> None:
    Store(db_url).close()
    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    con.execute("UPDATE alembic_version SET version_num = '9999'")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="revision 9999, newer than this p2p-bot"):
        Store(db_url)


def test_processes_starting_together_upgrade_once(new_db_url: str) -> None:
    """Replicas started at the same moment on a new file: one builds the schema, the others wait and find it."""
    stores: list[Store] = []
    in_threads(lambda: stores.append(Store(new_db_url)), 4)
    assert len(stores) == 4
    assert {s.schema_version() for s in stores} == {head_revision()}
    assert schema_diff(stores[0].engine) == []
    for s in stores:
        s.close()


def test_every_revision_downgrades(db_url: str) -> None:
    """Each revision's downgrade undoes its upgrade, so a bad release can be rolled back."""
    from alembic import command
    from alembic.config import Config

    from bot.edges.store import MIGRATIONS_DIR

    store = Store(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    store.close()
    again = Store(db_url)
    assert schema_diff(again.engine) == []
    again.close()
