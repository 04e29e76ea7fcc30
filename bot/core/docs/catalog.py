"""One answer engine over every source: the shipped topics (or ``P2PBOT_KNOWLEDGE_DIR``), the extra knowledge
folders and the indexed documentation (``P2PBOT_DOCS``), built once and cached between processes.

A question asked from a fresh process must not pay for parsing every page and building the index, nor for
loading the database layer: the built engine is pickled into the cache folder under a key made of the
knowledge files' sizes and times, the configured documentation and the index's generation number (read
from a SQLite store with the standard library). Only when that key changes is anything rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core import kb, semantic
from bot.core.answers import AnswerEngine
from bot.edges import peek
from bot.edges.settings import Settings

if TYPE_CHECKING:
    from bot.core.docs.indexer import IndexReport, Progress
    from bot.edges.store import Store

GENERATION_KEY = "docs.generation"  # kept in the store's cache table by the indexer
SOURCES_KEY = "docs.sources"
log = logging.getLogger(__name__)
_CODE = ("answers.py", "elsewhere.py", "semantic.py", "kb.py", "textnorm.py", "docs/sections.py", "docs/readers.py",
         "docs/catalog.py")


def cache_dir(settings: Settings) -> Path:
    if settings.cache_dir:
        return Path(os.path.expanduser(settings.cache_dir))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "p2p-bot"


def knowledge_folders(settings: Settings) -> list[Path]:
    first = Path(settings.knowledge_dir) if settings.knowledge_dir else kb.default_dir()
    return [first, *(Path(p) for p in settings.extra_knowledge)]


def _stamp(paths: list[Path]) -> list[tuple[str, int, int, int]]:
    out = []
    for p in paths:
        try:
            st = p.stat()
            # ctime too: copying with kept times (cp -p, rsync -t, tar) can change a file and leave its mtime
            out.append((str(p), st.st_mtime_ns, st.st_ctime_ns, st.st_size))
        except OSError:
            out.append((str(p), 0, 0, -1))
    return out


def docs_state(settings: Settings, store: Callable[[], Store]) -> tuple[str | None, list[str] | None]:
    """(generation, the sources indexed last time) of the documentation index; (None, None) when never indexed."""
    values = peek.cache_values(settings.database_url, (GENERATION_KEY, SOURCES_KEY))
    if values is None:  # not a SQLite file: ask through the store
        s = store()
        values = {k: got[0] for k in (GENERATION_KEY, SOURCES_KEY) if (got := s.cache_get(k)) is not None}
    gen, sources = values.get(GENERATION_KEY), values.get(SOURCES_KEY)
    return (None if gen is None else str(gen)), (list(sources) if isinstance(sources, list) else None)


def needs_index(settings: Settings, store: Callable[[], Store]) -> bool:
    """True when documentation is configured but was never indexed (or the configured sources changed)."""
    if not settings.docs:
        return False
    gen, indexed = docs_state(settings, store)
    return gen is None or indexed is None or sorted(indexed) != sorted(dict.fromkeys(settings.docs))


def load_engine(settings: Settings, store: Callable[[], Store], use_cache: bool = True) -> AnswerEngine:
    """The answer engine for these settings: from the cache when nothing changed, else built and cached.

    Documentation that was never indexed is indexed now (every process can answer from the first start)."""
    folders = knowledge_folders(settings)
    optional_first = bool(settings.knowledge_dir)  # an empty P2PBOT_KNOWLEDGE_DIR is allowed
    files: list[Path] = []
    for k, folder in enumerate(folders):
        found = kb.md_files(folder) if folder.is_dir() else []
        files.extend(found)
        if not found and not (k == 0 and optional_first and folder.is_dir()):
            kb.load_dir(folder)  # raises the sentence naming the folder
    generation = None
    if settings.docs:
        if needs_index(settings, store):
            index_now(settings, store())
        generation, _ = docs_state(settings, store)
    here = Path(__file__).resolve().parents[1]
    model = semantic.model_files()  # an upgraded or removed token-vector package means a new index
    key_data = {"kb": _stamp(files), "code": _stamp([here / c for c in _CODE]), "docs": list(settings.docs),
                "model": _stamp(list(model)) if model else [],
                "gen": generation, "db": settings.database_url if settings.docs else "",
                "domain": _stamp(kb.md_files(kb.default_dir())) if settings.docs and kb.default_dir().is_dir() else []}
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_dir(settings) / f"answers-{key}.pickle"
    if use_cache:
        try:
            with path.open("rb") as fh:
                engine = pickle.load(fh)
            if isinstance(engine, AnswerEngine):
                return engine
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
            pass
    topics = _knowledge_topics(folders, optional_first)
    if settings.docs:
        from bot.core.docs.indexer import load_topics

        topics += load_topics(store(), settings.docs)
    # the library's pages alone: the shipped topics still say what a P2P question looks like (the out-of-scope gate)
    domain = _domain_topics() if settings.docs and all(t.from_docs for t in topics) else None
    engine = AnswerEngine(topics, domain=domain)
    if use_cache:
        _save(engine, path)
    return engine


def _domain_topics() -> list[kb.Topic] | None:
    try:
        return kb.load_dir(kb.default_dir())
    except (kb.KnowledgeError, OSError) as exc:
        log.warning("out-of-scope gate off for the documentation: the shipped knowledge: %s", exc)
        return None


def _knowledge_topics(folders: list[Path], optional_first: bool) -> list[kb.Topic]:
    first, *more = folders
    if optional_first and first.is_dir() and not kb.md_files(first):
        return kb.load_dir(more[0], *more[1:]) if more else []
    return kb.load_dir(first, *more)


def _save(engine: AnswerEngine, path: Path) -> None:
    """Write atomically (another process may be reading); forget cached engines unused for a week."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a pickle is code: only this user writes it
        fd, tmp = tempfile.mkstemp(prefix=".answers-", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(engine, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        week = time.time() - 7 * 86400
        for old in path.parent.glob("answers-*.pickle"):
            if old != path and old.stat().st_atime < week:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # no cache: the next process builds again, nothing is lost


def index_now(settings: Settings, store: Store, progress: Progress | None = None) -> IndexReport:
    """Index ``P2PBOT_DOCS`` now and return the report; ``progress(source, pages done, pages)`` hears of each
    page as it is checked."""
    from bot.core.docs.indexer import DocsIndexer

    indexer = DocsIndexer(store, progress=progress)
    try:
        return indexer.run(settings.docs)
    finally:
        indexer.close()
