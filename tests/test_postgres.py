"""The store on a real PostgreSQL server (a throwaway cluster on loopback), where one can be started here:
schema creation and versioning, the upgrade path, and exactly-once claims across threads."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.edges.store import SCHEMA_VERSION, Store, request_index, utcnow
from tests.conftest import in_threads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("no PostgreSQL server binaries on this machine")
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        prefix = ["runuser", "-u", "postgres", "--"]
    tmp = tempfile.mkdtemp(prefix="p2pbot-pg-")
    data = Path(tmp) / "data"
    if prefix:
        shutil.chown(tmp, user="postgres")
    port = _free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-w", "-l", str(Path(tmp) / "log"), "-o",
                        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server here: {exc}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(tmp, ignore_errors=True)


def test_schema_on_postgres(pg_url: str) -> None:
    s = Store(pg_url)
    assert s.schema_version() == SCHEMA_VERSION
    with s.begin() as conn:
        conn.execute(insert(request_index).values(institution="GWA", kind="lending", external_id="E1",
                                                  request_id="R1", synced_at=utcnow()))
    with s.engine.connect() as conn:
        assert conn.execute(select(request_index.c.external_id)).scalar_one() == "E1"
    s.close()
    again = Store(pg_url)  # a second start finds the schema in place
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_claims_are_exactly_once_on_postgres(pg_url: str) -> None:
    stores = [Store(pg_url) for _ in range(4)]
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


def test_upgrade_path_on_postgres(pg_url: str) -> None:
    from sqlalchemy import text, update

    from bot.edges.store import meta

    s = Store(pg_url)
    with s.begin() as conn:
        conn.execute(text("ALTER TABLE partners DROP COLUMN locate_profile"))
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="1"))
    s.close()
    upgraded = Store(pg_url)
    assert upgraded.schema_version() == SCHEMA_VERSION
    with upgraded.engine.connect() as conn:
        cols = conn.execute(text("SELECT column_name FROM information_schema.columns WHERE table_name='partners'"))
        assert "locate_profile" in {c[0] for c in cols}
    upgraded.close()
