"""The morning post: one message per channel with ✅ / ⚠️ / ❌ / ❔ per institution, details in the thread,
and a *How to fix* button when a run is missing or failed (never for ❔ "could not check": Alma could not be
asked, which is no evidence that the job did not run).

Exactly once: before anything is checked or posted, the process claims (``morning``, channel, local
date) under a unique constraint. Two clock processes on one database, or a restart half-way, still give
one post a day. If the main post fails the claim is released so a retry can make it; once the main post
is out the claim is finished at once, so a failed thread reply never leads to a second post.

A manual run (``expiry-check --post``) before the day's post time, or whose check has an ``unknown``, is
*provisional*: it posts (at most one provisional post per channel and day) but does not claim the day, so
the real morning post still goes out.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError

from bot.core import expiry
from bot.core.outgoing import REFUSED, Message, refusal
from bot.core.services import Services
from bot.edges.settings import Institution
from bot.edges.store import utcnow

log = logging.getLogger(__name__)
KIND = "morning"
PROVISIONAL = "morning-provisional"


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
         late: bool = False, manual: bool = False, checked: expiry.ExpiryReport | None = None) -> list[PostResult]:
    """Check and post for every channel, once per channel and local day; ``render`` turns a report into the
    main message and its thread reply (the front end's renderer: the core builds no Block Kit). ``manual``
    is a person's run (``expiry-check --post``): before the post time, or with an ``unknown``, it is only
    provisional and leaves the day to the real morning post. ``checked``: a check of that day the caller
    already made (the CLI prints it), so Alma is not asked twice and the post says what was printed."""
    now = now or utcnow()
    day = day or now.astimezone(ZoneInfo(services.settings.timezone)).date()
    early = now < post_time(services, day)
    results = []
    for channel, insts in channels(services).items():
        key = day.isoformat()
        if not services.store.claim(KIND, channel, key, by=me()):
            results.append(PostResult(channel, False, "already posted"))
            continue
        try:
            codes = {i.code for i in insts}
            report = expiry.check(insts, services.alma, services.store, day, now) \
                if checked is None or checked.date != day.isoformat() else \
                expiry.ExpiryReport(checked.date, [i for i in checked.institutions if i.code in codes])
            main, thread = render(report, late=late)
        except Exception as exc:  # a bug, not Alma (the check turns Alma's failures into "unknown")
            services.store.release(KIND, channel, key)
            log.exception("morning check for %s failed", channel)
            results.append(PostResult(channel, False, f"failed: {type(exc).__name__}"))
            continue
        unknown = [i.code for i in report.institutions if i.status == "unknown"]
        kind, note = KIND, "late notice" if late else ""
        if manual and (early or unknown):
            services.store.release(KIND, channel, key)  # the day stays open for the real morning post
            kind = PROVISIONAL
            note = ("provisional: before the " + services.settings.morning_post_time + " post" if early else
                    "provisional: could not check " + ", ".join(unknown)) + "; the morning post still goes out"
            if not services.store.claim(PROVISIONAL, channel, key, by=me()):
                results.append(PostResult(channel, False, "a provisional check was already posted today"))
                continue
        results.append(_send(services, channel, kind, key, main, thread, note))
    return results


def _send(services: Services, channel: str, kind: str, key: str, main: Message, thread: Message,
          note: str) -> PostResult:
    """The main post under the claim (released only if it did not go out), then the thread reply."""
    try:
        resp = services.slack.chat_postMessage(channel=channel, **main.kwargs())
        ts = str(resp["ts"])
    except (SlackApiError, OSError) as exc:
        services.store.release(kind, channel, key)  # nothing went out: let a retry post it
        log.exception("morning post to %s failed", channel)
        code = str(exc.response.get("error", "")) if isinstance(exc, SlackApiError) else ""
        if code in REFUSED:  # the bot is not in the channel (or it is archived): what to do, plainly
            return PostResult(channel, False, "failed: " + refusal(code, channel))
        return PostResult(channel, False, f"failed: {code or type(exc).__name__}")
    services.store.finish_claim(kind, channel, key, result=ts)  # out: this claim is never given back
    try:
        services.slack.chat_postMessage(channel=channel, thread_ts=ts, **thread.kwargs())
    except (SlackApiError, OSError) as exc:
        log.exception("the morning post's thread reply in %s failed", channel)
        return PostResult(channel, True, f"posted; the thread reply failed ({type(exc).__name__})", ts)
    return PostResult(channel, True, note, ts)


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
