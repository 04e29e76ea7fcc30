"""The clock: APScheduler 3.x jobs registered in one place, with explicit ids, time zone and misfire grace.

Jobs are plain functions that take their dependencies as arguments (tests call them directly). The job
store is in memory and rebuilt at start; what must happen only once (a post, a reminder occurrence) is
guarded by claims in the database, so two clock processes, or a restart, never post twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core import morning, reminders, status
from bot.core.lookup import LookupService
from bot.core.partners import nightly_audit
from bot.core.services import Services
from bot.edges.alma.errors import AlmaError
from bot.edges.store import utcnow
from bot.frontends.blocks import expiry_messages, reminder_message
from bot.frontends.escaping import plain

log = logging.getLogger(__name__)
REMINDER_PREFIX = "reminder:"


# -- the jobs -------------------------------------------------------------------------------------------
def morning_post(services: Services) -> None:
    for r in morning.post(services, expiry_messages):
        log.info("morning post to %s: %s %s", r.channel, "posted" if r.posted else "skipped", plain(r.reason))


def sync_index(lookup: LookupService) -> None:
    for r in lookup.sync():
        log.info("index sync %s: ok=%s lending=%s borrowing=%s calls=%s", r.institution, r.ok, r.lending,
                 r.borrowing, r.calls)


def full_sync_index(lookup: LookupService) -> None:
    """Once a night every slice is read again: a request that left a slice while another entered it keeps
    the slice's total, so the quarter-hourly sync (which skips unchanged totals) cannot see that swap."""
    for r in lookup.sync(full=True):
        log.info("nightly full index sync %s: ok=%s lending=%s borrowing=%s calls=%s", r.institution, r.ok,
                 r.lending, r.borrowing, r.calls)


def refresh_status(services: Services) -> None:
    services.store.cache_put(status.CACHE_KEY, status.collect(services).to_json())


def reindex_docs(services: Services) -> None:
    """Re-read what changed in P2PBOT_DOCS; a source that fails keeps its sections and shows in /p2p status."""
    from bot.core.docs.catalog import index_now

    report = index_now(services.settings, services.store)
    for src in report.sources:
        if src.status != "ok":
            log.warning("docs index: could not read %s: %s", src.source, src.detail)
    if report.added or report.changed or report.removed:
        services.refresh_engine()  # built here, in the clock's thread; the old engine answers until then
    log.info("docs index: %s added, %s changed, %s removed", report.added, report.changed, report.removed)


def post_reminder(services: Services, reminder_id: int) -> None:
    reminders.fire(services, reminder_message, reminder_id)


def partner_audit(services: Services) -> None:
    try:
        nightly_audit(services)
    except AlmaError as exc:
        log.warning("partner audit could not run: %s", exc)


def prune_logs(services: Services) -> dict[str, int]:
    """Stored webhook deliveries, handled event keys and old sync runs go after ``bot.retention_days``."""
    pruned = services.store.prune(utcnow() - timedelta(days=services.settings.retention_days))
    log.info("pruned logs older than %s days: %s", services.settings.retention_days, pruned)
    return pruned


def sync_reminders(services: Services, scheduler: BaseScheduler) -> tuple[int, int]:
    """Make the scheduler's reminder jobs match the store (added from Slack in any process)."""
    wanted = {f"{REMINDER_PREFIX}{r.id}": r for r in reminders.Reminders(services.store).active()}
    have = {j.id for j in scheduler.get_jobs() if j.id.startswith(REMINDER_PREFIX)}
    for jid in have - set(wanted):
        scheduler.remove_job(jid)
    added = 0
    for jid, r in wanted.items():
        if jid not in have:
            scheduler.add_job(post_reminder, reminders.trigger(r), id=jid, args=[services, r.id],
                              misfire_grace_time=15 * 60, coalesce=True, max_instances=1, replace_existing=True)
            added += 1
    return added, len(have - set(wanted))


# -- registration ---------------------------------------------------------------------------------------
def build(services: Services, blocking: bool = False) -> BaseScheduler:
    s = services.settings
    tz = ZoneInfo(s.timezone)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    sched: BaseScheduler = cls(timezone=tz, job_defaults={"coalesce": True, "max_instances": 1})
    hh, _, mm = s.morning_post_time.partition(":")
    grace = int(s.missed_post_grace_hours * 3600)
    sched.add_job(morning_post, CronTrigger(hour=int(hh), minute=int(mm or 0), timezone=tz), id="morning-post",
                  args=[services], misfire_grace_time=grace, replace_existing=True)
    sched.add_job(sync_index, IntervalTrigger(minutes=15, timezone=tz), id="index-sync", args=[services.lookup],
                  misfire_grace_time=10 * 60, next_run_time=datetime.now(tz), replace_existing=True)
    sched.add_job(full_sync_index, CronTrigger(hour=1, minute=40, timezone=tz), id="index-full-sync",
                  args=[services.lookup], misfire_grace_time=3 * 3600, replace_existing=True)
    sched.add_job(refresh_status, IntervalTrigger(minutes=5, timezone=tz), id="status-refresh", args=[services],
                  misfire_grace_time=5 * 60, replace_existing=True)
    sched.add_job(sync_reminders, IntervalTrigger(seconds=30, timezone=tz), id="reminders-sync",
                  args=[services, sched], misfire_grace_time=30, next_run_time=datetime.now(tz),
                  replace_existing=True)
    sched.add_job(prune_logs, CronTrigger(hour=4, minute=15, timezone=tz), id="prune-logs", args=[services],
                  misfire_grace_time=6 * 3600, replace_existing=True)
    sched.add_job(partner_audit, CronTrigger(hour=3, minute=30, timezone=tz), id="partner-audit",
                  args=[services], misfire_grace_time=3 * 3600, replace_existing=True)
    if s.docs and s.docs_refresh_minutes > 0:
        sched.add_job(reindex_docs, IntervalTrigger(minutes=s.docs_refresh_minutes, timezone=tz), id="docs-index",
                      args=[services], misfire_grace_time=int(s.docs_refresh_minutes * 60), replace_existing=True)
    services.on_reminders_changed = lambda: sync_reminders(services, sched)
    return sched


def start(services: Services, blocking: bool = False) -> BaseScheduler:
    """Catch up on a missed morning post, then run the clock."""
    sched = build(services, blocking=blocking)
    try:
        for r in morning.catch_up(services, expiry_messages, utcnow()):
            log.info("catch-up post to %s: %s %s", r.channel, r.posted, plain(r.reason))
    except Exception:  # a failed catch-up must not stop the clock; the regular job retries tomorrow
        log.exception("catch-up of the morning post failed")
    sched.start()
    return sched
