"""Did Alma's "Expired Resource Sharing Requests" job run last night, and how did it end?

For each institution: find the scheduled job by its configured name (``GET /conf/jobs?type=SCHEDULED``,
paged; the id is cached), read its instances submitted on the *local* day (Alma's times are UTC and its
date filter is a UTC date, while the schedule is local, so the query spans the UTC dates the local day
touches and instances are then placed by local time), merge ``JOB_END`` webhook events, and classify:

    ok        the last run of the day completed successfully
    warning   it completed with warnings or errors
    running   it is still running (after the grace period the detail says so loudly)
    failed    it failed or was aborted
    missing   Alma answered, and there is no run on that day (or no such scheduled job)
    unknown   Alma could not be asked (key refused, unreachable, quota spent, an unreadable answer, or no
              answer within the deadline); ``detail`` says which. Never reported as "did not run": that
              would be a false alarm. A JOB_END webhook for the day still decides when Alma cannot be asked.

Each institution's check has a total deadline (``DEADLINE_S``), so a hung Alma gives ``unknown`` in
seconds instead of holding the morning post or a Slack user for minutes.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.edges.alma.client import AlmaClient, deadline, run_in_context
from bot.edges.alma.errors import AlmaError, sentence
from bot.edges.alma.models import JobInstance
from bot.edges.settings import Institution
from bot.edges.store import Store, utcnow, webhook_events

log = logging.getLogger(__name__)
STATUSES = ("ok", "warning", "running", "unknown", "failed", "missing")  # the CLI contract's status values
IN_PROGRESS = {"QUEUED", "PENDING", "INITIALIZING", "RUNNING", "FINALIZING"}
OK = {"COMPLETED_SUCCESS"}
WARN = {"COMPLETED_WARNING", "COMPLETED_FAILED", "COMPLETED_NO_BULKS"}
RUNNING_GRACE = timedelta(hours=2)
ICONS = {"ok": "✅", "warning": "⚠️", "running": "⏳", "failed": "❌", "missing": "❌", "unknown": "❔"}
DEADLINE_S = 20.0  # per institution: Alma's answer, retries included, or "unknown"


@dataclass
class Run:
    id: str
    status: str
    status_label: str
    started: str
    ended: str
    expired: int | None
    submitted_by: str = ""


@dataclass
class InstitutionExpiry:
    code: str
    name: str
    status: str
    started: str | None = None
    ended: str | None = None
    expired: int | None = None
    detail: str = ""
    runs: list[Run] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The fields of the CLI contract."""
        return {"code": self.code, "status": self.status, "started": self.started, "ended": self.ended,
                "expired": self.expired, "detail": self.detail}


class LastExpiry(TypedDict, total=False):
    """What the bot last knew of an institution's expiry job (kept in the store's cache, ``expiry:last:<code>``)."""

    date: str  # the local day checked, YYYY-MM-DD
    status: str
    expired: int | None
    detail: str


def last_known(store: Store, code: str) -> LastExpiry | None:
    """The last expiry-job result kept for institution ``code``; None when none is (or it is unreadable)."""
    hit = store.cache_get(f"expiry:last:{code}")
    value = hit[0] if hit else None
    if not isinstance(value, dict):
        return None
    out: LastExpiry = {}
    day, status, expired, detail = value.get("date"), value.get("status"), value.get("expired"), value.get("detail")
    if isinstance(day, str):
        out["date"] = day
    if isinstance(status, str):
        out["status"] = status
    if "expired" in value and (expired is None or isinstance(expired, int)):
        out["expired"] = expired
    if isinstance(detail, str):
        out["detail"] = detail
    return out


@dataclass
class ExpiryReport:
    date: str
    institutions: list[InstitutionExpiry]

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date, "institutions": [i.public() for i in self.institutions]}


def _utc(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def expired_count(inst: JobInstance) -> int | None:
    for value, label, count in inst.counters:
        if "expired" in f"{value} {label}".lower():
            try:
                return int(count)
            except ValueError:
                return None
    return None


def find_job_id(client: AlmaClient, store: Store, inst: Institution) -> str | None:
    key = f"expiry-job:{inst.code}:{inst.expiry_job_name.lower()}"
    cached = store.cache_get(key)
    if cached and cached[0]:
        return str(cached[0])
    wanted = inst.expiry_job_name.strip().lower()
    jobs = list(client.jobs("SCHEDULED"))
    match = next((j for j in jobs if j.name.strip().lower() == wanted), None) or \
        next((j for j in jobs if wanted in j.name.lower()), None)
    if match is None:
        return None
    store.cache_put(key, match.id)
    return match.id


def _webhook_runs(store: Store, job_id: str, inst_code: str) -> list[JobInstance]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(webhook_events.c.payload, webhook_events.c.institution)
                            .where(webhook_events.c.job_id == job_id)).all()
    out = []
    for payload, where in rows:
        if where and where != inst_code:
            continue
        try:
            out.append(JobInstance.from_json(json.loads(payload).get("job_instance") or {}))
        except (ValueError, AttributeError):
            continue
    return out


def classify(runs: list[JobInstance], day: date, tz: str, now: datetime,
             grace: timedelta = RUNNING_GRACE) -> tuple[str, JobInstance | None, str]:
    """(status, the run that decides it, a sentence) for one local day's runs."""
    zone = ZoneInfo(tz)
    mine = sorted((r for r in runs if (_utc(r.submit_time) or _utc(r.start_time))
                   and (_utc(r.submit_time) or _utc(r.start_time)).astimezone(zone).date() == day),  # type: ignore[union-attr]
                  key=lambda r: r.submit_time or r.start_time)
    if not mine:
        due = datetime.combine(day, time(2, 0), tzinfo=zone)
        if now < due:
            return "missing", None, f"Not run yet: it is scheduled for 02:00 on {day.isoformat()}."
        return "missing", None, ("No run of the job was found for this day. Check that it is Active and scheduled "
                                 "Every Day at 02:00 (Fulfillment Jobs Configuration).")
    last = mine[-1]
    earlier = mine[:-1]
    note = ""
    if earlier:
        note = " Earlier that day: " + "; ".join(f"{r.status_desc or r.status} at "
                                                  f"{_local(r.start_time or r.submit_time, zone)}" for r in earlier) + "."
    s = last.status
    if s in OK:
        n = expired_count(last)
        what = f"{n} request(s) expired" if n is not None else "no expiry count reported"
        return "ok", last, f"Ran at {_local(last.start_time, zone)} and completed: {what}.{note}"
    if s in WARN:
        return "warning", last, f"Ran at {_local(last.start_time, zone)} but {last.status_desc or s}; " \
                                f"check the job report in Monitor Jobs.{note}"
    if s in IN_PROGRESS:
        started = _utc(last.start_time) or _utc(last.submit_time) or now
        hours = (now - started).total_seconds() / 3600
        if now - started > grace:
            return "running", last, f"Still {s.lower()} after {hours:.1f} hours (started " \
                                    f"{_local(last.start_time or last.submit_time, zone)}); it may be stuck.{note}"
        return "running", last, f"Running since {_local(last.start_time or last.submit_time, zone)}.{note}"
    return "failed", last, f"{last.status_desc or s} at {_local(last.start_time or last.submit_time, zone)}: requests " \
                           f"did not move on to the next lender.{note}"


def _local(raw: str, zone: ZoneInfo) -> str:
    dt = _utc(raw)
    return dt.astimezone(zone).strftime("%H:%M") if dt else "?"


def _cached_job_id(store: Store, inst: Institution) -> str | None:
    cached = store.cache_get(f"expiry-job:{inst.code}:{inst.expiry_job_name.lower()}")
    return str(cached[0]) if cached and cached[0] else None


def check_institution(client: AlmaClient, store: Store, inst: Institution, day: date,
                      now: datetime | None = None, deadline_s: float | None = DEADLINE_S) -> InstitutionExpiry:
    now = now or utcnow()
    zone = ZoneInfo(inst.timezone)
    job_id: str | None = None
    unasked = ""
    try:
        with deadline(deadline_s) if deadline_s is not None else nullcontext():
            job_id = find_job_id(client, store, inst)
            if job_id is None:
                return InstitutionExpiry(inst.code, inst.name, "missing",
                                         detail=f"There is no scheduled job named \"{inst.expiry_job_name}\" in "
                                                "Alma. Turn it on in Fulfillment Jobs Configuration.")
            start = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(ZoneInfo("UTC"))
            end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone).astimezone(ZoneInfo("UTC"))
            polled = list(client.job_instances(job_id, start.date().isoformat(), end.date().isoformat()))
    except AlmaError as exc:
        reason = sentence(exc, inst.name)
        job_id = job_id or _cached_job_id(store, inst)
        pushed = _webhook_runs(store, job_id, inst.code) if job_id else []
        status, run, detail = classify(pushed, day, inst.timezone, now)
        if run is None:  # nothing pushed for that day either: we do not know, and say why
            return InstitutionExpiry(inst.code, inst.name, "unknown", detail=f"Could not check: {reason}")
        polled = []
        unasked = reason
        log.info("expiry check of %s decided by a JOB_END webhook: Alma could not be asked", inst.code)
    runs = {r.id: r for r in polled}
    assert job_id is not None
    for r in _webhook_runs(store, job_id, inst.code):  # pushed JOB_END events fill in what polling missed
        runs.setdefault(r.id, r)
    status, run, detail = classify(list(runs.values()), day, inst.timezone, now)
    if unasked:
        detail += f" (From Alma's JOB_END webhook; Alma itself could not be asked: {unasked})"
    out = InstitutionExpiry(inst.code, inst.name, status, detail=detail)
    mine = [r for r in runs.values() if (_utc(r.submit_time) or now).astimezone(zone).date() == day]
    out.runs = [Run(r.id, r.status, r.status_desc, r.start_time, r.end_time, expired_count(r))
                for r in sorted(mine, key=lambda r: r.submit_time)]
    if run is not None:
        s, e = _utc(run.start_time), _utc(run.end_time)
        out.started = s.astimezone(zone).isoformat() if s else None
        out.ended = e.astimezone(zone).isoformat() if e else None
        out.expired = expired_count(run)
    return out


def check(institutions: list[Institution], clients: dict[str, AlmaClient], store: Store, day: date | None = None,
          now: datetime | None = None, workers: int = 32, deadline_s: float | None = DEADLINE_S) -> ExpiryReport:
    """Every institution at once (a thread each, up to ``workers``), in configuration order, each within
    ``deadline_s``."""
    now = now or utcnow()
    if day is None:
        tz = institutions[0].timezone if institutions else "America/New_York"
        day = now.astimezone(ZoneInfo(tz)).date()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(institutions) or 1))) as pool:
        one = run_in_context(lambda i: check_institution(clients[i.code], store, i, day, now, deadline_s))
        results = list(pool.map(one, institutions))
    for r in results:
        # what the bot last *knew*: an unknown does not overwrite it, nor does "not run yet"
        if r.status != "unknown" and (r.status != "missing" or "Not run yet" not in r.detail):
            store.cache_put(f"expiry:last:{r.code}", {"date": day.isoformat(), "status": r.status,
                                                     "expired": r.expired, "detail": r.detail})
    return ExpiryReport(day.isoformat(), results)
