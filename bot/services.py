"""The shared services every front end (Slack, terminal chat, CLI) uses, built lazily from settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import kb
from bot.answers import AnswerEngine
from bot.settings import Settings
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    _engine: AnswerEngine | None = None
    _store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> AnswerEngine:
        with self._lock:
            if self._engine is None:
                folder = Path(self.settings.knowledge_dir) if self.settings.knowledge_dir else kb.default_dir()
                self._engine = AnswerEngine(kb.load_dir(folder))
            return self._engine

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.database_url)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
