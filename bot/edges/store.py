"""The project's storage: SQLAlchemy Core over a SQLite file by default, PostgreSQL by URL.

The schema is declared once here and created (and versioned) at start. Feature modules keep their
state in these tables: walkthroughs, feedback, the request index, post claims (exactly-once), reminders,
partner onboarding and the audit log. Uniqueness that matters for correctness (one post per day, one
PUT per click) is enforced by constraints in the database, not by hoping two processes don't race.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from bot.edges.ratebudget import SharedBudget, budget_table

# what json.dumps writes: the values the cache and the audit log keep (tuples come back as lists)
JSONValue: TypeAlias = str | int | float | bool | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None

metadata = MetaData()

# an indexed section's id is "<page slug>#<section slug>": up to 120 + 1 + 2 × 80 + "-part-N" characters
TOPIC_ID_MAX = 512

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("question", Text, nullable=False),
    Column("topic_id", String(TOPIC_ID_MAX), nullable=False),
    Column("vote", Integer, nullable=False),  # +1 / -1
    UniqueConstraint("user_id", "question", "topic_id", name="uq_feedback_once"),
)

walkthroughs = Table(
    "walkthroughs", metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("topic_id", String(TOPIC_ID_MAX), nullable=False),
    Column("step", Integer, nullable=False),  # 0-based index of the step shown
    Column("total", Integer, nullable=False),
    # since schema 5: the procedure's title and a digest of its steps when the walkthrough started (or was
    # last restarted), so a page that changed or left the documentation is noticed and said
    Column("title", String(255), nullable=False, default="", server_default=""),
    Column("fingerprint", String(64), nullable=False, default="", server_default=""),
    Column("status", String(16), nullable=False),  # active / done / stopped
    Column("version", Integer, nullable=False, default=0),  # bumped on every move; stale clicks lose
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
)


def _request_fields() -> list[Column[Any]]:
    """What the index knows of one request; the indexed rows and a sync's staged rows hold the same."""
    return [
        Column("status", String(64), nullable=False, default=""),
        Column("status_desc", String(255), nullable=False, default=""),
        Column("partner_code", String(128), nullable=False, default=""),
        Column("partner_name", String(255), nullable=False, default=""),
        Column("title", Text, nullable=False, default=""),
        Column("author", Text, nullable=False, default=""),
        Column("library", String(64), nullable=False, default=""),
        Column("requester", String(255), nullable=False, default=""),
        Column("created", String(40), nullable=False, default=""),
        Column("modified", String(40), nullable=False, default=""),
        Column("source", String(32), nullable=False, default=""),
        Column("synced_at", DateTime(timezone=True), nullable=False),
    ]


request_index = Table(
    "request_index", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("institution", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # lending / borrowing
    Column("external_id", String(255), nullable=False, index=True),
    Column("request_id", String(64), nullable=False),
    *_request_fields(),
    UniqueConstraint("institution", "kind", "request_id", name="uq_request_index"),
)

# a sync's rows while it reads Alma; swapped into request_index in one transaction only when the read was
# complete, so a failed, partial or unparseable read never touches the indexed rows
request_stage = Table(
    "request_stage", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run", String(40), nullable=False, index=True),  # one sync of one institution
    Column("staged_at", DateTime(timezone=True), nullable=False),
    Column("institution", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("request_id", String(64), nullable=False),
    *_request_fields(),
)

rate_budget = budget_table(metadata)

sync_runs = Table(
    "sync_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("institution", String(64), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("ok", Boolean, nullable=False, default=False),
    Column("calls", Integer, nullable=False, default=0),
    Column("requests", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
)

claims = Table(
    "claims", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("scope", String(128), nullable=False),
    Column("day", String(40), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(128), nullable=False, default=""),
    Column("done_at", DateTime(timezone=True)),
    Column("result", Text, nullable=False, default=""),
    UniqueConstraint("kind", "scope", "day", name="uq_claim_once"),
)

reminders = Table(
    "reminders", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("schedule", String(128), nullable=False),  # normalised cron expression
    Column("spec", String(255), nullable=False),  # what the user typed
    Column("text", Text, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

webhook_events = Table(
    "webhook_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(128), nullable=False, default=""),
    Column("action", String(32), nullable=False),
    Column("job_id", String(64), nullable=False, default=""),
    Column("instance_id", String(64), nullable=False, default=""),
    Column("institution", String(64), nullable=False, default=""),
    Column("payload", Text, nullable=False),
)

partners = Table(
    "partners", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("institution", String(64), nullable=False),
    Column("code", String(128), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("symbol", String(128), nullable=False, default=""),
    Column("locate_profile", String(128), nullable=False, default=""),  # since schema 2
    Column("state", String(32), nullable=False),  # previewed / profile_set / complete
    Column("created_by", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("before", Text, nullable=False, default=""),
    Column("after", Text, nullable=False, default=""),
    UniqueConstraint("institution", "code", name="uq_partner_once"),
)

checklist = Table(
    "checklist", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partner_id", Integer, nullable=False, index=True),
    Column("item", String(64), nullable=False),
    Column("done_by", String(64)),
    Column("done_at", DateTime(timezone=True)),
    UniqueConstraint("partner_id", "item", name="uq_checklist_item"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("before", Text, nullable=False, default=""),
    Column("after", Text, nullable=False, default=""),
)

processed_events = Table(
    "processed_events", metadata,
    Column("key", String(255), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

cache = Table(
    "cache", metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The library's own documentation (P2PBOT_DOCS), indexed: one row per page with its parsed sections (JSON),
# and what is needed to read only what changed next time (file mtime/size, HTTP ETag/Last-Modified, a hash).
docs_pages = Table(
    "docs_pages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(1000), nullable=False, index=True),  # the P2PBOT_DOCS entry it came from
    Column("location", String(2000), nullable=False),  # absolute file path or URL
    Column("slug", String(255), nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("mtime_ns", BigInteger, nullable=False, default=0),
    Column("size", BigInteger, nullable=False, default=0),
    Column("etag", String(255), nullable=False, default=""),
    Column("last_modified", String(64), nullable=False, default=""),
    Column("content_hash", String(64), nullable=False, default=""),
    Column("sections", Text, nullable=False, default="[]"),
    Column("n_sections", Integer, nullable=False, default=0),
    Column("n_procedures", Integer, nullable=False, default=0),
    Column("n_faqs", Integer, nullable=False, default=0),
    Column("indexed_at", DateTime(timezone=True), nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("error", Text, nullable=False, default=""),  # the last read failed; the sections are the last good ones
    UniqueConstraint("source", "location", name="uq_docs_page"),
)

docs_sources = Table(
    "docs_sources", metadata,
    Column("source", String(1000), primary_key=True),
    Column("status", String(16), nullable=False),  # ok / failed
    Column("detail", Text, nullable=False, default=""),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("ok_at", DateTime(timezone=True)),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def age(iso: str, now: datetime | None = None) -> str:
    """'just now', '12 min ago', '3 h ago', '2 days ago' for an ISO time; 'never' when empty."""
    if not iso:
        return "never"
    try:
        then = as_utc(datetime.fromisoformat(iso))
    except ValueError:
        return iso
    assert then is not None
    mins = int(((now or utcnow()) - then).total_seconds() // 60)
    if mins < 1:
        return "just now"
    if mins < 120:
        return f"{mins} min ago"
    if mins < 48 * 60:
        return f"{mins // 60} h ago"
    return f"{mins // 1440} days ago"


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; treat them as the UTC they were stored as."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SchemaError(RuntimeError):
    """The database was made by a newer p2p-bot."""


# -- schema upgrades ---------------------------------------------------------------------------------
# The schema's history is a chain of Alembic revisions in migrations/versions, run at every start (no
# alembic.ini: the store hands its connection to migrations/env.py). The first revision is the schema as
# it stood when the store still counted versions itself in a `meta` table (versions 1 and 2); such a
# database is brought to version 2 the old way, stamped with the baseline, and then follows the chain.
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BASELINE = "0001"
_LEGACY_STEPS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE partners ADD COLUMN locate_profile VARCHAR(128) DEFAULT '' NOT NULL",),
}
_LEGACY_LATEST = 2
_PG_LOCK = 0x70327062  # pg_advisory_xact_lock key: one process upgrades at a time, the others then find it done


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    """The newest revision this p2p-bot knows (one head: two revisions after the same parent is an error)."""
    head = _script().get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, to: str = "head") -> None:
    """Bring the database to ``to`` (normally the head), one process at a time, without losing data."""
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head_revision() and to == "head":
            return  # the usual start: nothing to do, no lock taken
    sqlite = engine.dialect.name == "sqlite"
    locking = _sqlite_locking_engine(engine) if sqlite else engine
    try:
        with locking.begin() as conn:
            if not sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
            _adopt_legacy(conn)
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None:
                try:
                    _script().get_revision(current)
                except CommandError:
                    raise SchemaError(f"the database is at schema revision {current}, newer than this p2p-bot "
                                      f"({head_revision()})") from None
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            script = _script()

            def steps(rev: str, _context: MigrationContext) -> list[RevisionStep]:
                return script._upgrade_revs(to, rev)  # what `alembic upgrade` does

            with EnvironmentContext(config, script, fn=steps, destination_rev=to):
                script.run_env()
    finally:
        if locking is not engine:
            locking.dispose()


def _sqlite_locking_engine(engine: Engine) -> Engine:
    """A one-off engine whose transactions start with BEGIN IMMEDIATE: the upgrade holds SQLite's write lock
    from its first look at the version to its commit, so a second process waits and then finds it done
    (the sqlite3 driver would otherwise start the transaction late and commit each DDL statement alone)."""
    locking = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(locking, "connect")
    def _connect(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        _sqlite_pragmas(dbapi_conn, record)
        dbapi_conn.isolation_level = None  # type: ignore[attr-defined]  # the driver leaves transactions to us

    @event.listens_for(locking, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return locking


def _adopt_legacy(conn: Connection) -> None:
    """A database made before Alembic keeps its version in `meta`: finish its own upgrades, stamp the baseline."""
    tables = set(inspect(conn).get_table_names())
    if "meta" not in tables or "alembic_version" in tables:
        return
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    version = int(row[0]) if row is not None else _LEGACY_LATEST  # tables made, version not yet written
    if version > _LEGACY_LATEST:
        raise SchemaError(f"the database is at schema version {version}, newer than this p2p-bot")
    for step in range(version + 1, _LEGACY_LATEST + 1):
        for statement in _LEGACY_STEPS.get(step, ()):
            conn.execute(text(statement))
    MigrationContext.configure(conn).stamp(_script(), BASELINE)
    conn.execute(text("DROP TABLE meta"))


# one writer at a time per SQLite file within a process: SQLite lets one connection write anyway, and a
# writer that finds the file locked sleeps in SQLite's busy handler (steps of up to 100 ms) even when the
# lock frees a millisecond later; queueing on a Python lock wakes the next writer at once (a Slack
# acknowledgement writes its dedupe key while background lookups write their rows and rate-budget slots)
_SQLITE_WRITERS: dict[str, threading.RLock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


def write_lock(url: str) -> AbstractContextManager[object]:
    """The lock write transactions on ``url`` take in this process (none for a server database)."""
    if not url.startswith("sqlite"):
        return nullcontext()
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(url, threading.RLock())


class Store:
    """A thin wrapper over an engine: schema creation, transactions and a few shared helpers."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {"future": True}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if url in ("sqlite://", "sqlite:///:memory:"):
            # a throw-away database that threads can share safely: a private temporary file, not memory
            self._tmp = tempfile.TemporaryDirectory(prefix="p2pbot-")
            url = f"sqlite:///{self._tmp.name}/p2pbot.sqlite3"
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.url = url
        self._writing = write_lock(url)
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrate()

    def _migrate(self) -> None:
        upgrade(self.engine)

    def schema_version(self) -> str:
        """The Alembic revision the database is at (the head of ``migrations/versions`` after start)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() or ""

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (committed at the end, rolled back on an exception)."""
        with self._writing, self.engine.begin() as conn:
            yield conn

    # -- shared helpers --------------------------------------------------------------------------
    def claim(self, kind: str, scope: str, day: str, by: str = "",
              stale_after: timedelta = timedelta(minutes=15)) -> bool:
        """Claim (kind, scope, day) once across every process; True only for the winner.

        A claim whose holder never finished (the process died between claiming and posting) may be taken
        over after ``stale_after``; a finished claim never is."""
        now = utcnow()
        try:
            with self.begin() as conn:
                conn.execute(insert(claims).values(kind=kind, scope=scope, day=day, claimed_at=now, claimed_by=by))
            return True
        except IntegrityError:
            pass
        with self.begin() as conn:
            res = conn.execute(update(claims).where(
                (claims.c.kind == kind) & (claims.c.scope == scope) & (claims.c.day == day)
                & (claims.c.done_at.is_(None)) & (claims.c.claimed_at < now - stale_after))
                .values(claimed_at=now, claimed_by=by))
        return bool(res.rowcount)

    def release(self, kind: str, scope: str, day: str) -> None:
        """Give a claim back (the work failed before anything was sent), so a retry can take it."""
        with self.begin() as conn:
            conn.execute(claims.delete().where((claims.c.kind == kind) & (claims.c.scope == scope)
                                               & (claims.c.day == day) & (claims.c.done_at.is_(None))))

    def finish_claim(self, kind: str, scope: str, day: str, result: str = "") -> None:
        with self.begin() as conn:
            conn.execute(update(claims).where((claims.c.kind == kind) & (claims.c.scope == scope)
                                              & (claims.c.day == day)).values(done_at=utcnow(), result=result))

    def seen_event(self, key: str) -> bool:
        """Record an incoming event key; True if it had been seen before (Slack retries, double clicks)."""
        try:
            with self.begin() as conn:
                conn.execute(insert(processed_events).values(key=key[:255], at=utcnow()))
            return False
        except IntegrityError:
            return True

    def prune(self, before: datetime) -> dict[str, int]:
        """Delete logs older than ``before``: handled event keys, stored webhook deliveries and sync runs
        (each institution's latest sync run is kept, whatever its age). Returns the rows deleted per table."""
        out: dict[str, int] = {}
        with self.begin() as conn:
            out["processed_events"] = conn.execute(
                processed_events.delete().where(processed_events.c.at < before)).rowcount
            out["webhook_events"] = conn.execute(
                webhook_events.delete().where(webhook_events.c.received_at < before)).rowcount
            latest = select(func.max(sync_runs.c.id)).group_by(sync_runs.c.institution)
            out["sync_runs"] = conn.execute(sync_runs.delete().where(
                (sync_runs.c.started_at < before) & sync_runs.c.id.not_in(latest))).rowcount
        return out

    def cache_get(self, key: str) -> tuple[Any, datetime] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(cache.c.value, cache.c.updated_at).where(cache.c.key == key)).first()
        if row is None:
            return None
        stamp = as_utc(row[1])
        assert stamp is not None
        return json.loads(row[0]), stamp

    def cache_put(self, key: str, value: JSONValue) -> None:
        """Set ``key`` to ``value`` in one statement (an upsert): two processes writing the same key at once
        both succeed, the later one wins, and no transaction is left aborted by a failed insert."""
        now = utcnow()
        row = {"key": key, "value": json.dumps(value), "updated_at": now}
        upsert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(cache)
        with self.begin() as conn:
            conn.execute(upsert.values(**row).on_conflict_do_update(
                index_elements=[cache.c.key], set_={"value": row["value"], "updated_at": now}))

    def audit(self, actor: str, action: str, target: str, before: JSONValue = "", after: JSONValue = "") -> None:
        with self.begin() as conn:
            conn.execute(insert(audit_log).values(
                at=utcnow(), actor=actor, action=action, target=target,
                before=before if isinstance(before, str) else json.dumps(before, sort_keys=True),
                after=after if isinstance(after, str) else json.dumps(after, sort_keys=True)))

    def budget(self, key: str, rate: float) -> SharedBudget:
        """The calls-per-second budget ``key`` (an institution), shared with every process on this store."""
        return SharedBudget(self.engine, rate_budget, key, rate, lock=self._writing)

    def close(self) -> None:
        self.engine.dispose()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; with synchronous=NORMAL a commit does not wait for an
    # fsync (still safe if the process dies), so the many tiny writes (retry keys, index upserts) don't queue
    # behind each other and hold up Slack acknowledgements
    cur.execute("PRAGMA busy_timeout=30000")
    row = cur.execute("PRAGMA journal_mode").fetchone()
    if row is None or str(row[0]).lower() != "wal":  # WAL is kept in the file: only a new file needs the switch
        for attempt in range(20):
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                # several processes opening a new file at once: SQLite refuses the switch with "database is
                # locked" at once, without waiting (it would deadlock otherwise); one of them wins, look again
                if attempt == 19:
                    raise
                time.sleep(0.01 * (attempt + 1))
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
