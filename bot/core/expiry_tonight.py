"""Lending requests that will expire at the next 02:00 run of the expiry job if we do not ship them.

A partner's Expiry Time (Days) in our partner record is how long we have to ship their request; the
"Expired Resource Sharing Requests" job that runs at 02:00 rejects what is still unshipped after that.
Alma's API does not expose Resource Sharing Working Days, so days are counted as calendar days (an early
warning rather than a late one).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core.services import Services
from bot.edges.store import request_index, utcnow

UNSHIPPED = ("REQUEST_CREATED_LEND", "BEING_PROCESSED", "WILL_SUPPLY")


def partner_expiry_days(services: Services, inst: str) -> dict[str, int]:
    cached = services.store.cache_get(f"partner-expiry:{inst}")
    if cached and utcnow() - cached[1] < timedelta(hours=12):
        return {k: int(v) for k, v in cached[0].items()}
    days = {p.code: p.expiry_time for p in services.alma[inst].partners()
            if p.request_expiry_type in ("EXPIRY_TIME", "") and p.expiry_time}
    services.store.cache_put(f"partner-expiry:{inst}", days)
    return {k: int(v) for k, v in days.items() if v}


def next_run(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    run = datetime.combine(local.date(), time(2, 0), tzinfo=ZoneInfo(tz))
    return run if run > local else run + timedelta(days=1)


def expiring_tonight(services: Services, inst: str, now: datetime | None = None) -> list[dict[str, str]]:
    now = now or utcnow()
    conf = services.settings.institution(inst)
    tz = conf.timezone if conf else services.settings.timezone
    run = next_run(now, tz)
    days = partner_expiry_days(services, inst)
    with services.store.engine.connect() as conn:
        rows = conn.execute(select(request_index).where(
            (request_index.c.institution == inst) & (request_index.c.kind == "lending")
            & (request_index.c.status.in_(UNSHIPPED)))).all()
    out = []
    for r in rows:
        m = r._mapping
        n = days.get(m["partner_code"])
        if not n or not m["created"]:
            continue
        try:
            created = datetime.fromisoformat(m["created"].replace("Z", "+00:00"))
        except ValueError:
            continue
        if created.tzinfo is None:
            created = created.replace(tzinfo=ZoneInfo("UTC"))
        if created + timedelta(days=n) <= run:
            out.append({"external_id": m["external_id"], "partner": m["partner_name"] or m["partner_code"],
                        "title": m["title"], "status": m["status_desc"] or m["status"], "days": str(n)})
    out.sort(key=lambda x: x["partner"])
    return out
