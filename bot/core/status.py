"""The institutions overview behind `/p2p status`: answered from cached data within Slack's 3 seconds,
refreshed in the background. Each piece says how old it is."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.core.expiry import LastExpiry, last_known
from bot.core.services import Services
from bot.edges.alma.errors import AlmaError, sentence
from bot.edges.store import request_index, utcnow

log = logging.getLogger(__name__)
CACHE_KEY = "status:overview"
STALE_AFTER = timedelta(minutes=10)


@dataclass
class InstitutionStatus:
    code: str
    name: str
    reachable: bool | None = None  # None: not checked yet
    problem: str = ""
    calls_left: int | None = None
    last_expiry: LastExpiry = field(default_factory=lambda: LastExpiry())
    lending_by_status: dict[str, int] = field(default_factory=dict)
    expiring_tonight: list[dict[str, str]] = field(default_factory=list)
    index_synced: str = ""
    checked_at: str = ""


@dataclass
class DocsStatus:
    """One configured documentation source (P2PBOT_DOCS): how fresh its index is and whether it failed."""

    source: str
    status: str  # ok / failed / not indexed
    detail: str = ""
    sections: int = 0
    checked_at: str = ""
    ok_at: str = ""


@dataclass
class Overview:
    institutions: list[InstitutionStatus]
    generated_at: str
    refreshing: bool = False
    docs: list[DocsStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _index_counts(services: Services, inst: str) -> dict[str, int]:
    with services.store.engine.connect() as conn:
        rows = conn.execute(select(request_index.c.status_desc, request_index.c.status, func.count())
                            .where((request_index.c.institution == inst) & (request_index.c.kind == "lending"))
                            .group_by(request_index.c.status_desc, request_index.c.status)).all()
    return {(desc or code or "?"): int(n) for desc, code, n in rows}


def collect(services: Services, now: datetime | None = None) -> Overview:
    """Ask Alma now (one cheap call per institution) and read the store; used by the background refresh."""
    from bot.core import expiry_tonight

    now = now or utcnow()
    fresh = services.lookup.freshness() if services.settings.institutions else {}
    out: list[InstitutionStatus] = []
    for inst in services.settings.institutions:
        st = InstitutionStatus(inst.code, inst.name, checked_at=now.isoformat(timespec="seconds"))
        client = services.alma[inst.code]
        try:
            client.test()
            st.reachable = True
        except AlmaError as exc:
            st.reachable = False
            st.problem = sentence(exc, inst.name)
        st.calls_left = client.remaining
        synced = fresh.get(inst.code)
        st.index_synced = synced.isoformat(timespec="seconds") if synced else ""
        st.lending_by_status = _index_counts(services, inst.code)
        st.last_expiry = last_known(services.store, inst.code) or {}
        try:
            st.expiring_tonight = expiry_tonight.expiring_tonight(services, inst.code, now)
        except AlmaError as exc:
            st.problem = st.problem or sentence(exc, inst.name)
        out.append(st)
    return Overview(out, now.isoformat(timespec="seconds"))


_refreshing = threading.Lock()


def refresh_in_background(services: Services) -> bool:
    """Start one background refresh (never two at once); True if one was started."""
    if not _refreshing.acquire(blocking=False):
        return False

    def work() -> None:
        try:
            services.store.cache_put(CACHE_KEY, collect(services).to_json())
        except Exception:  # a background thread must not die silently; log it with its traceback
            log.exception("status refresh failed")
        finally:
            _refreshing.release()

    services.background.submit(work)
    return True


def docs_status(services: Services) -> list[DocsStatus]:
    """Each configured documentation source, read from the store (no page is fetched)."""
    if not services.settings.docs:
        return []
    from bot.core.docs.indexer import listing, source_states

    states = {s["source"]: s for s in source_states(services.store)}
    counts: dict[str, int] = {}
    for page in listing(services.store):
        counts[page["source"]] = counts.get(page["source"], 0) + page["sections"]
    out = []
    for src in services.settings.docs:
        st = states.get(src)
        if st is None:
            out.append(DocsStatus(src, "not indexed"))
        else:
            out.append(DocsStatus(src, st["status"], st["detail"], counts.get(src, 0), st["checked_at"], st["ok_at"]))
    return out


def overview(services: Services) -> Overview:
    """What is known now, from the cache; a refresh starts in the background if it is old or missing."""
    docs = docs_status(services)
    if not services.settings.institutions:
        return Overview([], utcnow().isoformat(timespec="seconds"), docs=docs)
    cached = services.store.cache_get(CACHE_KEY)
    stale = cached is None or utcnow() - cached[1] > STALE_AFTER
    refreshing = refresh_in_background(services) if stale else False
    if cached is None:
        fresh = services.lookup.freshness() if services.settings.institutions else {}
        insts = []
        for i in services.settings.institutions:
            synced = fresh.get(i.code)
            insts.append(InstitutionStatus(i.code, i.name, index_synced=synced.isoformat() if synced else "",
                                           lending_by_status=_index_counts(services, i.code)))
        return Overview(insts, utcnow().isoformat(timespec="seconds"), refreshing=True, docs=docs)
    data = cached[0]
    insts = [InstitutionStatus(**i) for i in data["institutions"]]
    return Overview(insts, data["generated_at"], refreshing=refreshing, docs=docs)
