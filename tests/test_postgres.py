"""The store on a real PostgreSQL server (a throwaway cluster on loopback), where one can be started here:
the schema revisions (same checks as tests/test_migrations.py), and exactly-once claims across threads."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, insert, inspect, select

from bot.edges.store import Store, head_revision, partners, request_index, utcnow
from tests.conftest import in_threads
from tests.test_migrations import make_legacy, schema_diff

pytestmark = pytest.mark.xdist_group("postgres")  # one worker, one throwaway server (make test: --dist loadgroup)


def test_schema_on_postgres(pg_db: str) -> None:
    s = Store(pg_db)
    assert s.schema_version() == head_revision()
    assert schema_diff(s.engine) == [], "store.py's tables differ from the revisions: add a revision"
    with s.begin() as conn:
        conn.execute(insert(request_index).values(institution="GWA", kind="lending", external_id="E1",
                                                  request_id="R1", synced_at=utcnow()))
    s.close()
    again = Store(pg_db)  # a second start finds the schema in place and the row kept
    assert again.schema_version() == head_revision()
    with again.engine.connect() as conn:
        assert conn.execute(select(request_index.c.external_id)).scalar_one() == "E1"
    again.close()


def test_claims_are_exactly_once_on_postgres(pg_db: str) -> None:
    stores = [Store(pg_db) for _ in range(4)]
    wins: list[bool] = []
    day = f"pg-{time.time()}"

    k = iter(range(100))

    def race() -> None:
        wins.append(stores[next(k) % 4].claim("morning", "#rs", day))

    in_threads(race, 8)
    assert wins.count(True) == 1
    assert stores[0].seen_event(f"e-{day}") is False and stores[1].seen_event(f"e-{day}") is True
    for s in stores:
        s.close()


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_from_before_alembic_is_adopted_on_postgres(pg_db: str, version: int) -> None:
    engine = create_engine(pg_db)
    make_legacy(engine, version)
    engine.dispose()
    upgraded = Store(pg_db)
    assert upgraded.schema_version() == head_revision()
    assert schema_diff(upgraded.engine) == []
    assert "meta" not in inspect(upgraded.engine).get_table_names()
    with upgraded.engine.connect() as conn:
        row = conn.execute(select(partners)).one()
    assert (row.code, row.locate_profile) == ("P1", "" if version == 1 else "LP")
    upgraded.close()


def test_replicas_starting_together_upgrade_once_on_postgres(pg_db: str) -> None:
    stores: list[Store] = []
    in_threads(lambda: stores.append(Store(pg_db)), 4)
    assert len(stores) == 4 and {s.schema_version() for s in stores} == {head_revision()}
    assert schema_diff(stores[0].engine) == []
    for s in stores:
        s.close()


def test_cache_writes_race_on_postgres(pg_db: str) -> None:
    """Many first writes of one key at once: every one succeeds (no aborted transaction), one value stays."""
    stores = [Store(pg_db) for _ in range(4)]
    n = iter(range(100))

    def put() -> None:
        i = next(n)
        stores[i % 4].cache_put("status:overview", {"writer": i})

    in_threads(put, 8)
    got = stores[0].cache_get("status:overview")
    assert got is not None and got[0]["writer"] in range(8)
    for s in stores:
        s.close()


def test_a_walkthrough_and_a_vote_keep_a_long_section_id_on_postgres(pg_db: str) -> None:
    """An indexed section's id (a page slug and two heading slugs) can pass 128 characters; PostgreSQL refused
    it in VARCHAR(128) (SQLite never checks a length), so walking or rating such a section failed there."""
    from bot.core.feedback import record_vote
    from bot.core.kb import Step, Topic
    from bot.core.walkthrough import Walkthroughs

    long_id = ("interlibrary-loan-peer-to-peer-borrowing-procedures-for-circulation-and-access-services-staff"
               "#receiving-borrowed-items--receiving-a-single-volume-item-that-arrived-in-the-courier-tote")
    assert len(long_id) > 128
    topic = Topic(id=long_id, title="Receiving", kind="procedure", roles=(), keywords=(), related=(), path="x.md",
                  line=1, steps=(Step(1, "Open Receiving Items.", 1), Step(2, "Scan it.", 2)), origin="docs")
    s = Store(pg_db)
    walks = Walkthroughs(s, {long_id: topic})
    started = walks.start("U1", topic)
    assert walks.move(started.token, "next", "U1").step == 1
    assert record_vote(s, "U1", "how do I receive a book", long_id, -1)
    s.close()


def test_going_back_to_schema_4_drops_what_it_cannot_hold_on_postgres(pg_db: str) -> None:
    """Review R17: the downgrade of revision 5 failed with "value too long" once a long section id existed."""
    from alembic import command
    from alembic.config import Config

    from bot.edges.store import MIGRATIONS_DIR, walkthroughs

    s = Store(pg_db)
    with s.begin() as conn:
        for wid, tid in (("w1", "x" * 300), ("w2", "borrow-return")):
            conn.execute(insert(walkthroughs).values(id=wid, user_id="U1", topic_id=tid, step=0, total=3,
                                                     status="active", version=0, created_at=utcnow(),
                                                     updated_at=utcnow()))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with s.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    with s.engine.connect() as conn:
        assert [r.topic_id for r in conn.execute(select(walkthroughs.c.topic_id))] == ["borrow-return"]
    s.close()
