"""The morning post: one message per channel with ✅ / ⚠️ / ❌ per institution, details in the thread,
and a *How to fix* button when a run is missing or failed.

Exactly once: before anything is checked or posted, the process claims (``morning``, channel, local
date) under a unique constraint. Two clock processes on one database, or a restart half-way, still give
one post a day; if the post itself fails the claim is released so a retry can make it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core import expiry
from bot.core.outgoing import Message
from bot.core.services import Services
from bot.edges.settings import Institution
from bot.edges.store import utcnow

log = logging.getLogger(__name__)
KIND = "morning"


@dataclass
class PostResult:
    channel: str
    posted: bool
    reason: str = ""
    ts: str = ""



class ExpiryRenderer(Protocol):
    """Turns a report into the main message and its thread reply."""

    def __call__(self, report: expiry.ExpiryReport, late: bool = False) -> tuple[Message, Message]: ...


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def channels(services: Services) -> dict[str, list[Institution]]:
    """Institutions grouped by the channel that hears about them."""
    out: dict[str, list[Institution]] = {}
    for inst in services.settings.institutions:
        ch = inst.channel or services.settings.rs_channel
        if ch:
            out.setdefault(ch, []).append(inst)
    return out


def post_time(services: Services, day: date) -> datetime:
    hh, _, mm = services.settings.morning_post_time.partition(":")
    return datetime.combine(day, time(int(hh), int(mm or 0)), tzinfo=ZoneInfo(services.settings.timezone))


def post(services: Services, render: ExpiryRenderer, day: date | None = None, now: datetime | None = None,
         late: bool = False) -> list[PostResult]:
    """Check and post for every channel, once per channel and local day; ``render`` turns a report into the
    main message and its thread reply (the front end's renderer: the core builds no Block Kit)."""
    now = now or utcnow()
    day = day or now.astimezone(ZoneInfo(services.settings.timezone)).date()
    results = []
    for channel, insts in channels(services).items():
        key = day.isoformat()
        if not services.store.claim(KIND, channel, key, by=me()):
            results.append(PostResult(channel, False, "already posted"))
            continue
        try:
            report = expiry.check(insts, services.alma, services.store, day, now)
            main, thread = render(report, late=late)
            resp = services.slack.chat_postMessage(channel=channel, **main.kwargs())
            ts = str(resp["ts"])
            services.slack.chat_postMessage(channel=channel, thread_ts=ts, **thread.kwargs())
        except Exception as exc:
            services.store.release(KIND, channel, key)  # nothing went out: let a retry post it
            log.exception("morning post to %s failed", channel)  # unexpected: keep the traceback
            results.append(PostResult(channel, False, f"failed: {type(exc).__name__}"))
            continue
        services.store.finish_claim(KIND, channel, key, result=ts)
        results.append(PostResult(channel, True, "late notice" if late else "", ts))
    return results


def catch_up(services: Services, render: ExpiryRenderer, now: datetime | None = None) -> list[PostResult]:
    """At start-up: if today's post time has passed and nothing was posted, post now (within the grace
    window) or post one late notice (after it)."""
    now = now or utcnow()
    day = now.astimezone(ZoneInfo(services.settings.timezone)).date()
    due = post_time(services, day)
    if now < due:
        return []
    late = now - due > timedelta(hours=services.settings.missed_post_grace_hours)
    return post(services, render, day, now, late=late)
