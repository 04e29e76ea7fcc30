"""Domain results as generic replies (title, sections, buttons), shared by both renderers: Block Kit
(:mod:`bot.frontends.blocks`) and terminal text (:mod:`bot.frontends.text`) draw the same partner preview,
checklist and status overview, so the commands only say *what* happened."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot.edges.store import age
from commands.messages import mention
from commands.replies import PartnerReply, Reply, StatusReply, TextReply

if TYPE_CHECKING:
    from bot.core.partners import Outcome
    from bot.core.status import Overview

ICON = {True: "🟢", False: "🔴", None: "⚪"}


def _checklist_lines(out: Outcome) -> str:
    lines = []
    for c in out.checklist:
        mark = "✅" if c["done"] else "☐"
        who = f" (done by {mention(c['done_by'])}, {c['done_at']})" if c["done"] else ""
        lines.append(f"{mark} *{c['title']}*{who}\n    {c['how']}")
    return "\n".join(lines)


def _checklist_choices(out: Outcome) -> tuple[tuple[str, ...], ...]:
    choices: list[tuple[str, ...]] = []
    for c in out.checklist:
        if not c["done"]:
            cmd = f"done {out.institution} {out.code} {c['item']}"
            choices.append((f"Done: {c['title']}", "partner_cmd", cmd, f"partner {cmd}"))
            if c.get("topic"):
                choices.append((f"How: {c['title']}", "walk_start", json.dumps({"t": c["topic"]}),
                                f"walk {c['topic']}"))
    return tuple(choices)


def partner(reply: PartnerReply) -> Reply | TextReply:
    out = reply.outcome
    if out.state in ("refused", "failed") and not out.checklist:
        return TextReply(out.message, error=out.state == "failed")
    if out.state == "not_found":
        q = reply.query or out.code
        return Reply(title="Partner not in Alma yet", sections=(out.message,),
                     choices=(("I've copied it", "partner_cmd", f"recheck {q}", f"partner recheck {q}"),))
    if out.state == "ambiguous":
        return Reply(title="Which partner?", sections=(out.message,),
                     choices=tuple((f"{c.name} ({c.symbol or c.code})", "partner_cmd", f"add {c.code}",
                                    f"partner add {c.code}") for c in out.candidates))
    head = f"{out.name} ({out.code})"
    sections = [out.message]
    choices: tuple[tuple[str, ...], ...] = ()
    if out.state == "preview":
        if out.changes:
            sections.append("Changes to make in Alma (the rest of the record stays as it is):\n" + "\n".join(
                f"• {c.field}: `{c.before}` → `{c.after}`" for c in out.changes))
            cmd = f"confirm {out.institution} {out.code} {out.preview_key}"
            choices = (("Confirm", "partner_cmd", cmd, f"partner {cmd}"),)
        else:
            cmd = f"confirm {out.institution} {out.code}"
            choices = (("Continue to the checklist", "partner_cmd", cmd, f"partner {cmd}"),)
    elif out.changes and out.changed:
        sections.append("Changed: " + ", ".join(f"{c.field} `{c.before}` → `{c.after}`" for c in out.changes))
    if out.checklist and out.state != "preview":
        done = sum(1 for c in out.checklist if c["done"])
        sections.append(f"*Steps only the Alma UI can do* ({done} of {len(out.checklist)} done):\n"
                        + _checklist_lines(out))
        choices = _checklist_choices(out)
    if out.drift:
        sections.append("Drift from policy:\n" + "\n".join(f"• {c.field} is `{c.before}`, policy `{c.after}`"
                                                           for c in out.drift))
    return Reply(title=head, sections=tuple(sections), choices=choices)


def onboarding_summary(out: Outcome) -> Reply:
    """The channel announcement when the last checklist item is ticked: who did what (mentions, so the
    people who did the work are credited by name)."""
    lines = [f"✅ *{out.name}* ({out.code}) is now a P2P partner at {out.institution}."]
    lines += [f"• {c['title']}: {mention(c['done_by'])}, {c['done_at']}" for c in out.checklist]
    return Reply(title="", sections=("\n".join(lines),), public=True)


def docs_lines(ov: Overview) -> list[str]:
    """Each documentation source's freshness (P2PBOT_DOCS), or nothing when none is configured."""
    lines = []
    for d in ov.docs:
        if d.status == "ok":
            note = f" ({d.detail})" if d.detail else ""  # e.g. documents in the folder no reader opens
            lines.append(f"🟢 {d.source}: {d.sections} sections, checked {age(d.checked_at)}{note}")
        elif d.status == "failed":
            lines.append(f"🔴 {d.source}: last read failed {age(d.checked_at)} ({d.detail}); "
                         f"answering from the copy read well {age(d.ok_at)}")
        else:
            lines.append(f"⚪ {d.source}: not indexed yet (`p2p-bot docs index`)")
    return lines


def status(reply: StatusReply) -> Reply:
    ov: Overview = reply.overview
    sections = []
    if ov.docs:
        sections.append("📚 *Documentation index*\n" + "\n".join(f"  {line}" for line in docs_lines(ov)))
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
                         + (f", {e['expired']} expired" if e.get("expired") is not None else ""))
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
