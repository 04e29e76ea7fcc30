"""Channel reminders: schedules people can type, kept in the store, posted once per occurrence.

Accepted: ``every day at 9:00``, ``every weekday at 8:30am``, ``every monday and thursday at 14:00``,
``every mon,wed,fri at 9``, ``every weekend at noon``, or a five-field cron expression (``0 9 * * 1-5``).
Each schedule is stored as a cron expression and applied to the running scheduler without a restart.

Limits, each refused with a sentence: a reminder fires at most once an hour (``MIN_INTERVAL``: a channel
reminder more often than that is noise, and anyone in the channel can set one), a schedule must fire at
least once in the next ``HORIZON`` (``0 9 31 2 *`` never does), a schedule is at most ``MAX_SPEC``
characters and a text ``MAX_TEXT``, and a channel has at most ``MAX_PER_CHANNEL`` active reminders.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from slack_sdk.errors import SlackApiError
from sqlalchemy import insert, select, update

from bot.core.outgoing import REFUSED, Message, marks_to_mrkdwn, refusal
from bot.core.services import Services
from bot.edges.store import Store, reminders, utcnow

log = logging.getLogger(__name__)

EXAMPLE = '`/p2p remind add "every weekday at 9:00" Process the Receiving Items queue`'
DAYS = {"mon": "mon", "monday": "mon", "tue": "tue", "tues": "tue", "tuesday": "tue", "wed": "wed",
        "wednesday": "wed", "thu": "thu", "thur": "thu", "thurs": "thu", "thursday": "thu", "fri": "fri",
        "friday": "fri", "sat": "sat", "saturday": "sat", "sun": "sun", "sunday": "sun"}
MAX_TEXT = 1000
MAX_SPEC = 100  # "every monday, wednesday and friday at 8:30am" is 45
MAX_PER_CHANNEL = 20
MIN_INTERVAL = timedelta(hours=1)
HORIZON = timedelta(days=366 * 4 + 1)  # "0 9 29 2 *" (leap days) fires within four years


class ScheduleError(ValueError):
    """The schedule can't be understood; the message is a sentence with an example."""


@dataclass(frozen=True)
class Reminder:
    id: int
    channel: str
    schedule: str
    spec: str
    text: str
    timezone: str
    created_by: str


def _time(raw: str) -> tuple[int, int]:
    t = raw.strip().lower().replace(".", "")
    if t in ("noon", "midday"):
        return 12, 0
    if t == "midnight":
        return 0, 0
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", t)
    if not m:
        raise ScheduleError(f"I can't read the time \"{raw}\". Use e.g. 9:00, 14:30 or 8am. Example: {EXAMPLE}")
    h, mins, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm:
        if not 1 <= h <= 12:
            raise ScheduleError(f"\"{raw}\" is not a time. Example: {EXAMPLE}")
        h = h % 12 + (12 if ampm == "pm" else 0)
    if not (0 <= h <= 23 and 0 <= mins <= 59):
        raise ScheduleError(f"\"{raw}\" is not a time of day. Example: {EXAMPLE}")
    return h, mins


def _days(raw: str) -> str:
    d = raw.strip().lower()
    if d in ("day", "days", "daily", "morning"):
        return "*"
    if d in ("weekday", "weekdays", "work day", "workday", "working day"):
        return "mon-fri"
    if d in ("weekend", "weekends"):
        return "sat,sun"
    names = [p for p in re.split(r"\s*(?:,|/|&|\band\b)\s*|\s+", d) if p]
    out = []
    for n in names:
        n = n.rstrip("s") if n.rstrip("s") in DAYS else n
        if n not in DAYS:
            raise ScheduleError(f"I don't know the day \"{n}\". Use day, weekday, or day names. Example: {EXAMPLE}")
        if DAYS[n] not in out:
            out.append(DAYS[n])
    return ",".join(out)


def parse_schedule(spec: str, tz: str) -> str:
    """A cron expression (minute hour day month day-of-week) for what the person typed."""
    if len(spec.strip()) > MAX_SPEC:
        raise ScheduleError(f"That schedule is {len(spec.strip()):,} characters long; a schedule fits in {MAX_SPEC}. "
                            f"Example: {EXAMPLE}")
    s = re.sub(r"\s+", " ", spec.strip())
    if not s:
        raise ScheduleError(f"Tell me when, e.g. {EXAMPLE}")
    if re.fullmatch(r"[\d*/,\-a-zA-Z]+( [\d*/,\-a-zA-Z]+){4}", s) and not s.lower().startswith("every"):
        try:
            CronTrigger.from_crontab(s, timezone=ZoneInfo(tz))
        except ValueError as exc:
            raise ScheduleError(f"That cron expression is not valid ({exc}). Example: `0 9 * * 1-5`.") from None
        return sensible(s, tz)
    m = re.fullmatch(r"(?:every|each|on)\s+(.+?)\s+(?:at\s+)?(\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?|noon|midday|midnight)",
                     s, flags=re.IGNORECASE)
    if not m:
        raise ScheduleError(f"I couldn't understand \"{spec}\". Say e.g. \"every weekday at 9:00\", \"every monday "
                            f"and thursday at 14:00\" or a cron expression like `0 9 * * 1-5`. Example: {EXAMPLE}")
    h, mins = _time(m.group(2))
    return sensible(f"{mins} {h} * * {_days(m.group(1))}", tz)


def sensible(cron: str, tz: str, now: datetime | None = None) -> str:
    """``cron`` when it fires at all (within ``HORIZON``) and never twice within ``MIN_INTERVAL``; checked
    over the next eight days, which every cron pattern repeats within (as far as the gaps go)."""
    trig = CronTrigger.from_crontab(cron, timezone=ZoneInfo(tz))
    start = now or utcnow()
    first: datetime | None = trig.get_next_fire_time(None, start)
    if first is None or first - start > HORIZON:
        raise ScheduleError(f"`{cron}` never comes round (is it a date that does not exist, like 31 February?). "
                            f"Example: {EXAMPLE}")
    t: datetime | None = first
    end = start + timedelta(days=8)
    while t is not None and t < end:
        nxt: datetime | None = trig.get_next_fire_time(t, t + timedelta(seconds=1))
        if nxt is not None and nxt - t < MIN_INTERVAL:
            raise ScheduleError(f"`{cron}` would post more often than once an hour; a channel reminder can fire "
                                f"at most hourly (`0 * * * *`). Example: {EXAMPLE}")
        t = nxt
    return cron


def trigger(r: Reminder) -> CronTrigger:
    return CronTrigger.from_crontab(r.schedule, timezone=ZoneInfo(r.timezone))


def next_time(r: Reminder, now: datetime | None = None) -> datetime | None:
    fire: datetime | None = trigger(r).get_next_fire_time(None, now or utcnow())
    return fire


def occurrence(r: Reminder, now: datetime) -> datetime | None:
    """The scheduled occurrence a run at ``now`` belongs to (the latest one not after now)."""
    trig = trigger(r)
    prev: datetime | None = None
    t: datetime | None = trig.get_next_fire_time(None, now - timedelta(days=8))
    while t is not None and t <= now:
        prev = t
        t = trig.get_next_fire_time(t, t + timedelta(seconds=1))
    return prev


def split_args(args: str) -> tuple[str, str]:
    """('every weekday at 9:00', 'Process the queue') from '"every weekday at 9:00" Process the queue',
    also without quotes when the schedule is recognisable."""
    a = args.strip()
    m = re.match(r'^[“"\'](.+?)[”"\']\s*(.*)$', a, flags=re.S)
    if m:
        return m.group(1), m.group(2).strip()
    m = re.match(r"^((?:every|each|on)\s+.+?\s+(?:at\s+)?(?:\d{1,2}(?::\d{2})?\s*(?:am|pm)?|noon|midnight))\s+(.*)$", a,
                 flags=re.I | re.S)
    if m:
        return m.group(1), m.group(2).strip()
    parts = a.split(None, 5)
    if len(parts) == 6:
        return " ".join(parts[:5]), parts[5]
    return a, ""


class Reminders:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, channel: str, spec: str, text: str, tz: str, user: str) -> Reminder:
        schedule = parse_schedule(spec, tz)
        if not text.strip():
            raise ScheduleError(f"What should I post? Put the message after the schedule: {EXAMPLE}")
        if len(text) > MAX_TEXT:
            raise ScheduleError(f"That reminder is {len(text):,} characters; keep it under {MAX_TEXT:,}.")
        if len(self.active(channel)) >= MAX_PER_CHANNEL:
            raise ScheduleError(f"This channel already has {MAX_PER_CHANNEL} reminders, the most it can have. "
                                "Remove one first (`/p2p remind list`, then `/p2p remind remove <id>`).")
        with self.store.begin() as conn:
            pk = conn.execute(insert(reminders).values(
                channel=channel, schedule=schedule, spec=spec.strip(), text=text.strip(), timezone=tz,
                created_by=user, created_at=utcnow(), active=True)).inserted_primary_key
            assert pk is not None
            rid = pk[0]
        return Reminder(int(rid), channel, schedule, spec.strip(), text.strip(), tz, user)

    def active(self, channel: str | None = None) -> list[Reminder]:
        q = select(reminders).where(reminders.c.active.is_(True)).order_by(reminders.c.id)
        if channel is not None:
            q = q.where(reminders.c.channel == channel)
        with self.store.engine.connect() as conn:
            return [Reminder(r.id, r.channel, r.schedule, r.spec, r.text, r.timezone, r.created_by)
                    for r in conn.execute(q)]

    def get(self, rid: int) -> Reminder | None:
        return next((r for r in self.active() if r.id == rid), None)

    def remove(self, rid: int, channel: str) -> bool:
        with self.store.begin() as conn:
            res = conn.execute(update(reminders).where((reminders.c.id == rid) & (reminders.c.channel == channel)
                                                       & (reminders.c.active.is_(True))).values(active=False))
        return bool(res.rowcount)



class ReminderRenderer(Protocol):
    def __call__(self, reminder: Reminder, /) -> Message: ...


def fire(services: Services, render: ReminderRenderer, reminder_id: int, now: datetime | None = None) -> bool:
    """The scheduled job: post the reminder once for this occurrence (other processes lose the claim)."""
    now = now or utcnow()
    r = Reminders(services.store).get(reminder_id)
    if r is None:
        return False
    occ = occurrence(r, now + timedelta(seconds=1)) or now
    key = occ.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M")
    if not services.store.claim("reminder", str(r.id), key):
        return False
    try:
        services.slack.chat_postMessage(channel=r.channel, **render(r).kwargs())
    except SlackApiError as exc:
        services.store.release("reminder", str(r.id), key)
        code = str(exc.response.get("error", ""))
        if code in REFUSED and r.created_by:  # say so to the person who set it up, not only to a log
            note = f"Your reminder #{r.id} could not be posted. " + refusal(code, r.channel)
            try:
                services.slack.chat_postMessage(channel=r.created_by, text=marks_to_mrkdwn(note))
            except SlackApiError:
                log.warning("could not tell %s that reminder #%s failed", r.created_by, r.id)
        raise
    except Exception:
        services.store.release("reminder", str(r.id), key)
        raise
    services.store.finish_claim("reminder", str(r.id), key)
    return True
