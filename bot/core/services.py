"""The shared services every front end (Slack, terminal chat, CLI) uses, built lazily from settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import kb
from bot.core.answers import AnswerEngine
from bot.core.walkthrough import Walkthroughs
from bot.edges.settings import Settings
from bot.edges.store import Store

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.core.lookup import LookupService
    from bot.edges.alma.client import AlmaClient


@dataclass
class Services:
    settings: Settings
    _engine: AnswerEngine | None = None
    _store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    extras: dict[str, Any] = field(default_factory=dict)
    # set by a clock running in this process, so a reminder added from Slack is scheduled at once
    on_reminders_changed: Callable[[], object] | None = None

    @property
    def engine(self) -> AnswerEngine:
        with self._lock:
            if self._engine is None:
                folder = Path(self.settings.knowledge_dir) if self.settings.knowledge_dir else kb.default_dir()
                self._engine = AnswerEngine(kb.load_dir(folder, *self.settings.extra_knowledge))
            return self._engine

    @property
    def http(self) -> Any:
        from bot.edges.alma.client import make_http_client

        with self._lock:
            if "http" not in self.extras:
                self.extras["http"] = make_http_client()
            return self.extras["http"]

    @property
    def alma(self) -> dict[str, AlmaClient]:
        """One client per configured institution, sharing one connection pool."""
        from bot.edges.alma.client import AlmaClient, limiter_for

        http = self.http
        with self._lock:
            if "alma" not in self.extras:
                self.extras["alma"] = {
                    i.code: AlmaClient(http, i.base_url, i.api_key, institution=i.code,
                                       limiter=limiter_for(f"{i.code}@{i.base_url}", i.calls_per_second))
                    for i in self.settings.institutions}
            clients: dict[str, AlmaClient] = self.extras["alma"]
            return clients

    @property
    def lookup(self) -> LookupService:
        from bot.core.lookup import LookupService

        store, clients = self.store, self.alma
        with self._lock:
            if "lookup" not in self.extras:
                self.extras["lookup"] = LookupService(
                    store, self.settings.institutions, clients,
                    refresh_after=timedelta(minutes=self.settings.lookup_refresh_minutes))
            service: LookupService = self.extras["lookup"]
            return service

    @property
    def slack(self) -> WebClient:
        """The Slack Web API client (its base URL comes from SLACK_API_URL)."""
        from slack_sdk import WebClient

        with self._lock:
            if "slack" not in self.extras:
                self.extras["slack"] = WebClient(token=self.settings.slack_bot_token or None,
                                                 base_url=self.settings.slack_api_url)
            client: WebClient = self.extras["slack"]
            return client

    @property
    def background(self) -> ThreadPoolExecutor:
        """Slow work after a Slack acknowledgement (lookups, status refreshes). Kept apart from Bolt's
        listener threads so a burst of slow Alma calls can never delay the next acknowledgement."""
        with self._lock:
            if "background" not in self.extras:
                self.extras["background"] = ThreadPoolExecutor(max_workers=64, thread_name_prefix="p2p-work")
            pool: ThreadPoolExecutor = self.extras["background"]
            return pool

    @property
    def walkthroughs(self) -> Walkthroughs:
        engine, store = self.engine, self.store
        with self._lock:
            if "walks" not in self.extras:
                self.extras["walks"] = Walkthroughs(store, engine.by_id)
            walks: Walkthroughs = self.extras["walks"]
            return walks

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.database_url)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        pool = self.extras.pop("background", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=False)
        http = self.extras.pop("http", None)
        if http is not None:
            http.close()
