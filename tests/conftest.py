"""Shared fixtures: paths, the shipped knowledge base, a real SQLite store, settings for tests."""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.core import kb
from bot.core.answers import AnswerEngine
from bot.edges.alma.client import AlmaClient, RateLimiter, make_http_client
from bot.edges.settings import Institution, Settings
from bot.edges.store import Store
from bot.sandbox import data
from bot.sandbox.server import Sandbox, SandboxState

ROOT = Path(__file__).resolve().parent.parent
# ../shared (docs, Alma reference, eval questions); P2PBOT_TEST_SHARED points elsewhere, e.g. at a missing
# folder to check that every test that needs it skips with a reason and all the others still run
SHARED = Path(os.environ.get("P2PBOT_TEST_SHARED") or ROOT.parent / "shared")
DATA = Path(__file__).resolve().parent / "data"


def shared_file(*parts: str) -> Path:
    """A file from ../shared, or skip the test cleanly when that folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared: {path} is not available here")
    return path


TODAY = date(2026, 11, 29)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` first, the longest (``long(seconds)``) before the others: xdist hands tests out
    in this order, so no worker is left at the end running a long one alone while the other has finished."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("long")
        return 0.0 if mark is None else float(mark.args[0]) if mark.args else 1.0

    items.sort(key=lambda item: -seconds(item))

# Alma's per-second limit is tested where it is the subject (tests/test_ratebudget.py, the 429 tests in
# tests/test_alma_client.py): there the sandbox keeps its real 25 calls/s and the bot paces itself. Every
# other test is about what the bot does with Alma's answers, so its sandbox takes any number of calls a
# second and the bot's clients and shared budgets are set to match: the same calls, not spaced 50 ms apart.
UNTHROTTLED = 1_000_000


def unthrottled(state: SandboxState) -> SandboxState:
    state.per_second = UNTHROTTLED
    return state


@functools.cache
def _seeded() -> bytes:
    """The sandbox's seeded institutions for TODAY, built once per worker: each test gets its own copy."""
    return pickle.dumps({i.api_key: i for i in data.build(TODAY)})


def seeded_state() -> SandboxState:
    """A new sandbox state with the seeded data, as ``SandboxState(today=TODAY)`` builds it."""
    return SandboxState(today=TODAY, institutions=pickle.loads(_seeded()))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A real sandbox on loopback, fresh for each test (its state can be poked for faults), without Alma's
    per-second limit (``sandbox.state.per_second = PER_SECOND_LIMIT`` gives it back)."""
    sb = Sandbox(unthrottled(seeded_state())).start()
    yield sb
    sb.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    client = make_http_client(timeout=httpx.Timeout(5.0, read=2.0))
    yield client
    client.close()


def fast_client(http: httpx.Client, sb: Sandbox, key: str = "sandbox-key-gwa", **kw: Any) -> AlmaClient:
    """A client whose retry back-off does not slow the tests (sleep is the true edge here), paced to match
    the sandbox: unpaced when it is unthrottled, 20 calls/s when it keeps Alma's limit."""
    kw.setdefault("sleep", lambda _s: None)
    kw.setdefault("limiter", RateLimiter(UNTHROTTLED if sb.state.per_second >= UNTHROTTLED else 20))
    return AlmaClient(http, sb.base_url, key, institution=key[-3:].upper(), **kw)


def sandbox_institutions(sb: Sandbox) -> tuple[Institution, ...]:
    """The sandbox as settings (``Sandbox.institutions`` is the one place that does it; the demo uses it too),
    with each institution's shared call budget matching the sandbox's limit."""
    insts = sb.institutions()
    if sb.state.per_second >= UNTHROTTLED:
        insts = tuple(replace(i, calls_per_second=UNTHROTTLED) for i in insts)
    return insts


@pytest.fixture(scope="session")
def topics() -> list[kb.Topic]:
    return kb.load_dir()


@pytest.fixture(scope="session")
def engine(topics: list[kb.Topic]) -> AnswerEngine:
    return AnswerEngine(topics)


@functools.cache
def _migrated() -> Path:
    """A SQLite file brought to the newest schema revision once per session (per xdist worker)."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="p2pbot-schema-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "migrated.sqlite3"
    Store(f"sqlite:///{path}").close()  # the last connection checkpoints the WAL into the file
    return path


def migrated_copy(target: Path) -> str:
    """The URL of a new SQLite file at ``target``, already at the newest schema (a copy of :func:`_migrated`:
    tests/test_migrations.py covers migrating a new file)."""
    import shutil

    shutil.copyfile(_migrated(), target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def migrated_db() -> Path:
    return _migrated()


@pytest.fixture
def db_url(tmp_path: Path, migrated_db: Path) -> str:
    """A test's own SQLite file, already at the newest schema: a copy of the session's migrated file, so
    each test does not run every revision again (tests/test_migrations.py covers migrating a new file)."""
    return migrated_copy(tmp_path / "test.sqlite3")


@pytest.fixture
def new_store(tmp_path: Path, migrated_db: Path) -> Iterator[Callable[[], Store]]:
    """Makes stores, each on its own new SQLite file at the newest schema (for tests that need several)."""
    import shutil

    made: list[Store] = []

    def make() -> Store:
        target = tmp_path / f"store-{len(made)}.sqlite3"
        shutil.copyfile(migrated_db, target)
        made.append(Store(f"sqlite:///{target}"))
        return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.fixture
def new_db_url(tmp_path: Path) -> str:
    """A SQLite path where no file exists yet."""
    return f"sqlite:///{tmp_path / 'new.sqlite3'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url)


@pytest.fixture
def fake_slack() -> Iterator[Any]:
    from tests.fake_slack import FakeSlack

    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(sandbox: Sandbox, fake_slack: Any, db_url: str) -> Iterator[Any]:
    """The whole bot: real app, real SQLite, the sandbox as Alma, a fake Slack Web API. Requests go through
    Bolt's own dispatch in-process (``over_http=True`` per request: through waitress and the WSGI gate)."""
    yield from _slack(sandbox, fake_slack, db_url, over_http=False)


@pytest.fixture
def slack_http(sandbox: Sandbox, fake_slack: Any, db_url: str) -> Iterator[Any]:
    """The same, every request over HTTP on loopback, end to end."""
    yield from _slack(sandbox, fake_slack, db_url, over_http=True)


def _slack(sandbox: Sandbox, fake_slack: Any, db_url: str, over_http: bool) -> Iterator[Any]:
    from bot.core.services import Services
    from tests.slack_harness import SECRET, SlackHarness

    settings = Settings(database_url=db_url, slack_bot_token="xoxb-test-token", slack_signing_secret=SECRET,
                        slack_api_url=f"{fake_slack.url}/api/", institutions=sandbox_institutions(sandbox),
                        alma_webhook_secret="webhook-secret")
    services = Services(settings)
    harness = SlackHarness(services, fake_slack, over_http=over_http).start()
    harness.sandbox = sandbox
    yield harness
    harness.stop()
    services.close()
    assert fake_slack.problems == [], fake_slack.problems  # every message the bot sent was valid


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback for the session (skips when none can be started here)."""
    import shutil
    import subprocess
    import tempfile

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
        # a throwaway cluster: nothing is synced to disk, and it is stopped without a shutdown checkpoint
        subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-w", "-l", str(Path(tmp) / "log"), "-o",
                        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server here: {exc}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(tmp, ignore_errors=True)


_pg_numbers = iter(range(1, 1_000_000))


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    """A new, empty database on the throwaway PostgreSQL server for one test."""
    from sqlalchemy import create_engine, text

    name = f"t{next(_pg_numbers)}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def in_threads(target: Any, count: int) -> None:
    """Run ``target`` in ``count`` threads released together, and wait for all of them."""
    import threading

    barrier = threading.Barrier(count)

    def go() -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=go) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
