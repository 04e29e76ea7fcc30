"""/p2p status: the institutions overview, or a request lookup when given an id."""

from __future__ import annotations

from typing import Any

from bot.core.status import overview
from bot.edges.store import age
from commands.lookup import lookup_reply
from commands.replies import Deferred, Reply, TextReply

ICON = {True: "🟢", False: "🔴", None: "⚪"}


def overview_reply(ctx: Any) -> Reply | TextReply:
    services = ctx.services
    if not services.settings.institutions and not services.settings.docs:
        return TextReply("No Alma institution is configured yet. Set P2PBOT_CONFIG (see p2pbot.example.toml) or "
                         "ALMA_API_URL and ALMA_API_KEY.")
    ov = overview(services)
    sections = []
    if ov.docs:
        lines = ["📚 *Documentation index*"]
        for d in ov.docs:
            if d.status == "ok":
                lines.append(f"  🟢 {d.source}: {d.sections} sections, checked {age(d.checked_at)}")
            elif d.status == "failed":
                lines.append(f"  🔴 {d.source}: last read failed {age(d.checked_at)} ({d.detail}); "
                             f"answering from the copy read well {age(d.ok_at)}")
            else:
                lines.append(f"  ⚪ {d.source}: not indexed yet (`p2p-bot docs index`)")
        sections.append("\n".join(lines))
    for st in ov.institutions:
        lines = [f"{ICON[st.reachable]} *{st.name}* ({st.code})"
                 + ("" if st.reachable is not None else ": not checked yet")]
        if st.problem:
            lines.append(f"  ⚠️ {st.problem}")
        if st.calls_left is not None:
            lines.append(f"  API calls left today: {st.calls_left:,}")
        if st.last_expiry:
            e = st.last_expiry
            lines.append(f"  Last expiry-job run: {e.get('status', '?')} on {e.get('date', '?')}"
                         + (f", {e['expired']} expired" if e.get("expired") not in (None, "") else ""))
        if st.lending_by_status:
            top = sorted(st.lending_by_status.items(), key=lambda kv: -kv[1])[:8]
            lines.append("  Lending requests: " + ", ".join(f"{k} {v}" for k, v in top))
        if st.expiring_tonight:
            ex = st.expiring_tonight
            lines.append(f"  ⏰ {len(ex)} lending request(s) expire tonight if not shipped: "
                         + ", ".join(f"{x['external_id']} ({x['partner']})" for x in ex[:5])
                         + ("…" if len(ex) > 5 else ""))
        lines.append(f"  Request index: synced {age(st.index_synced)}")
        sections.append("\n".join(lines))
    if not ov.institutions:
        return Reply(title="P2P status", sections=tuple(sections),
                     footer="No Alma institution is configured yet (P2PBOT_CONFIG or ALMA_API_URL and ALMA_API_KEY).")
    footer = f"As of {age(ov.generated_at)}." + (" Refreshing in the background; ask again in a minute."
                                                   if ov.refreshing else "")
    return Reply(title="P2P status", sections=tuple(sections), footer=footer)


def handle(ctx: Any, args: str) -> Reply | TextReply | Deferred:
    """`/p2p status` - each institution at a glance; `/p2p status <external id>` - look a request up."""
    if args.strip():
        return lookup_reply(ctx, args)
    return overview_reply(ctx)
