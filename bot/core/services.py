"""The shared services every front end (Slack, terminal chat, CLI) uses, built lazily from settings."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from bot.edges.settings import Settings

if TYPE_CHECKING:
    import httpx
    from slack_sdk import WebClient

    from bot.core.answers import AnswerEngine
    from bot.core.kb import Topic
    from bot.core.lookup import LookupService
    from bot.core.walkthrough import Walkthroughs
    from bot.edges.alma.client import AlmaClient
    from bot.edges.store import Store


log = logging.getLogger(__name__)
DOCS_RECHECK_S = 30.0  # how often a long-running process looks for a newer documentation index
P = ParamSpec("P")
T = TypeVar("T")


class WorkPool(ThreadPoolExecutor):
    """A thread pool that can tell when all the work handed to it so far has finished (``drain``), so a caller
    (a test, a shutdown) waits for the real event instead of guessing a time."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._pending: set[Future[object]] = set()
        self._pending_lock = threading.Lock()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        with self._pending_lock:
            self._pending.add(future)  # type: ignore[arg-type]
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[T]) -> None:
        with self._pending_lock:
            self._pending.discard(future)  # type: ignore[arg-type]

    def idle(self) -> bool:
        with self._pending_lock:
            return not self._pending

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every piece of work submitted so far (and any it submitted) has finished; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._pending_lock:
                pending = list(self._pending)
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                return not pending
            wait(pending, timeout=left)


@dataclass
class Services:
    """Each service is built on first use (a CLI command needs few of them) and then shared by every thread."""

    settings: Settings
    _engine: AnswerEngine | None = None
    _store: Store | None = None
    _pools: dict[str, httpx.Client] = field(default_factory=dict)  # one connection pool per institution
    _alma: dict[str, AlmaClient] | None = None
    _lookup: LookupService | None = None
    _slack: WebClient | None = None
    _background: WorkPool | None = None
    _listeners: WorkPool | None = None
    _walks: Walkthroughs | None = None
    _docs_generation: str | None = None
    _docs_check_at: float = 0.0
    _refreshing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # set by a clock running in this process, so a reminder added from Slack is scheduled at once
    on_reminders_changed: Callable[[], object] | None = None

    @property
    def engine(self) -> AnswerEngine:
        """Shipped topics, extra knowledge and indexed documentation as one engine (cached between processes;
        the database layer is loaded only when the documentation index must be read or built)."""
        from bot.core.docs import catalog

        with self._lock:
            if self._engine is not None and self.settings.docs and time.monotonic() >= self._docs_check_at:
                # another process (the clock, `p2p-bot docs index`) may have re-indexed the documentation: the
                # new engine is built in the background while this one keeps answering, so no Slack request
                # waits for a build (it must be acknowledged within 3 s)
                self._docs_check_at = time.monotonic() + DOCS_RECHECK_S
                if (catalog.docs_state(self.settings, self._store_unlocked)[0] != self._docs_generation
                        and not self._refreshing):
                    self._refreshing = True
                    threading.Thread(target=self._refresh_quietly, name="engine-refresh", daemon=True).start()
            if self._engine is None:
                self._engine = catalog.load_engine(self.settings, self._store_unlocked)
                if self.settings.docs:
                    self._docs_generation = catalog.docs_state(self.settings, self._store_unlocked)[0]
                    self._docs_check_at = time.monotonic() + DOCS_RECHECK_S
            return self._engine

    def reload_engine(self) -> None:
        """Forget the engine (the documentation was re-indexed); walkthroughs then see the new sections."""
        with self._lock:
            self._engine = None
            self._walks = None

    def refresh_engine(self) -> None:
        """Build the engine over the current documentation index, then put it in place of the old one (which
        answers until then); walkthroughs then see the new sections."""
        from bot.core.docs import catalog

        generation = catalog.docs_state(self.settings, lambda: self.store)[0] if self.settings.docs else None
        engine = catalog.load_engine(self.settings, lambda: self.store)  # outside the lock: this takes a while
        with self._lock:
            self._engine, self._walks = engine, None
            self._docs_generation = generation
            self._docs_check_at = time.monotonic() + DOCS_RECHECK_S

    def _refresh_quietly(self) -> None:
        try:
            self.refresh_engine()
        except Exception:  # the old engine keeps answering; the next check tries again
            log.exception("could not build the answer engine over the re-indexed documentation")
        finally:
            with self._lock:
                self._refreshing = False

    @property
    def http(self) -> httpx.Client:
        """A connection pool for calls that belong to no institution (each institution has its own: :meth:`http_for`)."""
        return self.http_for("")

    def http_for(self, code: str) -> httpx.Client:
        """One HTTP connection pool per institution, so a slow or busy institution never makes the others
        queue on a shared pool's lock."""
        from bot.edges.alma.client import make_http_client

        with self._lock:
            if code not in self._pools:
                self._pools[code] = make_http_client()
            return self._pools[code]

    @property
    def alma(self) -> dict[str, AlmaClient]:
        """One client per configured institution, each with its own connection pool and the institution's
        calls-per-second budget shared (through the store) with every other p2p-bot process."""
        from bot.edges.alma.client import AlmaClient

        store = self.store
        with self._lock:
            if self._alma is not None:
                return self._alma
        clients = {i.code: AlmaClient(self.http_for(i.code), i.base_url, i.api_key, institution=i.code,
                                      key_env=i.api_key_env,
                                      limiter=store.budget(f"{i.code}@{i.base_url}", i.calls_per_second))
                   for i in self.settings.institutions}
        with self._lock:
            if self._alma is None:
                self._alma = clients
            return self._alma

    @property
    def lookup(self) -> LookupService:
        from bot.core.lookup import LookupService

        store, clients = self.store, self.alma
        with self._lock:
            if self._lookup is None:
                self._lookup = LookupService(
                    store, self.settings.institutions, clients,
                    refresh_after=timedelta(minutes=self.settings.lookup_refresh_minutes))
            return self._lookup

    @property
    def slack(self) -> WebClient:
        """The Slack Web API client (its base URL comes from SLACK_API_URL)."""
        from slack_sdk import WebClient

        with self._lock:
            if self._slack is None:
                self._slack = WebClient(token=self.settings.slack_bot_token or None, base_url=self.settings.slack_api_url)
            return self._slack

    @property
    def background(self) -> WorkPool:
        """Slow work after a Slack acknowledgement (lookups, status refreshes). Kept apart from Bolt's
        listener threads so a burst of slow Alma calls can never delay the next acknowledgement."""
        with self._lock:
            if self._background is None:
                self._background = WorkPool(max_workers=64, thread_name_prefix="p2p-work")
            return self._background

    @property
    def listeners(self) -> WorkPool:
        """The threads Bolt runs listeners in after ``ack()`` (the Slack app is built with this pool)."""
        with self._lock:
            if self._listeners is None:
                self._listeners = WorkPool(max_workers=64, thread_name_prefix="p2p-listener")
            return self._listeners

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the listeners and the background work started so far have finished (and whatever they
        started in turn); False if that took longer than ``timeout`` seconds."""
        deadline = time.monotonic() + timeout

        def pools() -> list[WorkPool]:  # looked up each round: a listener may create the background pool
            return [p for p in (self._listeners, self._background) if p is not None]

        while not all(p.idle() for p in pools()):
            for p in pools():
                if not p.drain(max(0.0, deadline - time.monotonic())):
                    return False
        return True

    @property
    def walkthroughs(self) -> Walkthroughs:
        from bot.core.walkthrough import Walkthroughs

        engine, store = self.engine, self.store
        with self._lock:
            if self._walks is None:
                self._walks = Walkthroughs(store, engine.by_id, self.fresh_topics)
            return self._walks

    def fresh_topics(self) -> dict[str, Topic]:
        """The topics as the documentation index has them now: when another process re-indexed since this
        one loaded its engine, the engine is built again first (a walkthrough is closed or restarted only on
        what the documentation says now, never on a process's old copy)."""
        if self.settings.docs:
            from bot.core.docs import catalog

            if catalog.docs_state(self.settings, lambda: self.store)[0] != self._docs_generation:
                self.refresh_engine()
        return self.engine.by_id

    @property
    def store(self) -> Store:
        with self._lock:
            return self._store_unlocked()

    def _store_unlocked(self) -> Store:
        from bot.edges.store import Store

        if self._store is None:
            self._store = Store(self.settings.database_url)
        return self._store

    def close(self) -> None:
        """Let running work finish (it may still need Alma and the store), then release the connections."""
        pools = (self._listeners, self._background)  # listeners first: they hand work to the background
        self._listeners = self._background = None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=False)
        with self._lock:
            http_pools, self._pools = list(self._pools.values()), {}
        for http in http_pools:
            http.close()
        if self._store is not None:
            self._store.close()
