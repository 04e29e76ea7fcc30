"""One place that turns replies into what people see: plain text for the terminal chat (Block Kit lives
in :mod:`bot.frontends.blocks`)."""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING

from bot.core.answers import Result
from bot.frontends.escaping import plain
from commands import messages
from commands.replies import (
    AnswerReply,
    Deferred,
    ExpiryReply,
    LookupReply,
    PartnerReply,
    Reply,
    StatusReply,
    TextReply,
    WalkReply,
)

if TYPE_CHECKING:  # the lookup types only annotate; `ask` must not load the database layer for them
    from bot.core.expiry import ExpiryReport
    from bot.core.lookup import Found, LookupResult

WIDTH = 100


def _wrap(text: str, indent: str = "") -> str:
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("|"):
            out.append(indent + line)
            continue
        sub = "   " if line[:3].strip().rstrip(".").isdigit() else "  "
        out.append(textwrap.fill(line, WIDTH, initial_indent=indent, subsequent_indent=indent + sub))
    return "\n".join(out)


def answer_text(result: Result) -> str:
    if not result.hits:
        return messages.NOTHING_FOUND
    if not result.answered:
        lines = [messages.NOT_SURE]
        lines += [f"  - {h.topic.title}  (`{h.topic.id}`)" for h in result.hits[:3]]
        return "\n".join(lines)
    best = result.hits[0]
    label, link = best.topic.citation()
    parts = [f"== {best.topic.title} ==", _wrap(best.answer), f"Source: {label}" + (f"  {link}" if link else "")]
    if best.topic.is_procedure:
        parts.append(f"Type `walk {best.topic.id}` to go through it step by step.")
    others = [h for h in result.hits[1:3]]
    if others:
        parts.append("Related: " + ", ".join(f"{h.topic.title} (`{h.topic.id}`)" for h in others))
    return "\n".join(parts)


def walk_text(reply: WalkReply) -> str:
    w = reply.walk
    t = w.topic
    if w.status == "done":
        how_far = f"all {w.total} steps" if w.step >= w.total - 1 else f"finished at step {w.step + 1} of {w.total}"
        return f"Done: {t.title}, {how_far}." + (" Nice work." if w.step >= w.total - 1 else "")
    if w.status == "stopped":
        return f"Stopped {t.title} at step {w.step + 1} of {w.total}. Type `walk {t.id}` to start it again."
    step = t.steps[w.step]
    bar = "#" * (w.step + 1) + "." * (w.total - w.step - 1)
    lines = [f"== {t.place_title} ==", f"Step {w.step + 1} of {w.total}  [{bar}]", _wrap(f"{step.number}. {step.text}")]
    lines.extend(note for note in (w.note, reply.note) if note)
    choices = (["back"] if w.step > 0 else []) + ["next" if not w.is_last else "next (finish)"] + \
        ([] if w.is_last else ["done"]) + ["stop"]
    lines.append("Type " + ", ".join(f"`{c}`" for c in choices) + ".")
    return "\n".join(lines)


def expiry_text(report: ExpiryReport) -> str:
    from bot.core.expiry import ICONS

    lines = [f"== Expired Resource Sharing Requests job, {report.date} =="]
    for i in report.institutions:
        label = "could not check" if i.status == "unknown" else i.status
        lines.append(f"{ICONS[i.status]} {i.name} ({i.code}): {label}")
        lines.append(_wrap(f"   {i.detail}"))
        if i.status in ("missing", "failed"):
            lines.append("   How to fix: `walk config-expiry-job`")
    return "\n".join(lines)


def _plain(text: str) -> str:
    """Slack's *bold* markers read as noise in a terminal."""
    return re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)


def to_text(reply: object) -> str:
    """Terminal text for a reply (the bot's mentions of people shown as @U…)."""
    return plain(_to_text(reply))


def _to_text(reply: object) -> str:
    if isinstance(reply, (PartnerReply, StatusReply)):
        from bot.frontends import present  # partners and status need the database layer; `ask` does not

        return _to_text(present.partner(reply) if isinstance(reply, PartnerReply) else present.status(reply))
    if isinstance(reply, TextReply):
        return ("Sorry: " if reply.error else "") + reply.text
    if isinstance(reply, WalkReply):
        return walk_text(reply)
    if isinstance(reply, LookupReply):
        return lookup_text(reply.result)
    if isinstance(reply, Deferred):
        return reply.progress + "\n" + _to_text(reply.run())
    if isinstance(reply, ExpiryReply):
        return expiry_text(reply.report)
    if isinstance(reply, AnswerReply):
        return answer_text(reply.result)
    if isinstance(reply, Reply):
        parts = [f"== {reply.title} =="] if reply.title else []
        parts += [_wrap(_plain(s)) for s in reply.sections]
        if reply.footer:
            parts.append(reply.footer)
        if reply.choices:
            parts.append("Choices: " + " / ".join(f"`{c[3] if len(c) > 3 else c[0]}`" for c in reply.choices))
        return "\n".join(parts)
    return str(reply)


def found_lines(f: Found) -> list[str]:
    from bot.edges.store import age

    side = "Borrowing (our patron)" if f.kind == "borrowing" else "Lending (we lend)"
    lines = [f"{f.institution_name}: {side}",
             f"  Status:   {f.status_label or f.status}",
             f"  Partner:  {f.partner_name or f.partner_code}" + (f" ({f.partner_code})" if f.partner_name else ""),
             f"  Title:    {f.title}" + (f" / {f.author}" if f.author else ""),
             f"  Created:  {f.created[:10]}   Last change: {f.modified[:10]}",
             f"  Request:  {f.request_id} in {f.library}" + (f", patron {f.requester}" if f.requester else ""),
             f"  Data:     from {f.source}, {age(f.as_of)}",
             f"  Next:     {f.next_step}  (walk {f.topic_id})"]
    return lines


def lookup_text(result: LookupResult) -> str:
    if not result.found and result.could_not_check:
        lines = [f"Request {result.external_id} is not in the index, and Alma could not be asked everywhere:",
                 *result.could_not_check]
    elif not result.found:
        where = ", ".join(result.searched) or "no institution"
        # with a part not indexed (borrowing requests without an Analytics report), "not found" covers only
        # what could be searched: say so first, not after a plain "no request"
        scope = f"in what I can search of {where}" if result.not_indexed else f"in {where}"
        lines = [f"No request with External Identifier {result.external_id} {scope}"
                 + (" (searched Alma live too)." if result.live_scan else ".")]
        lines += [f"Not indexed yet, so it may be there: {n}" for n in result.not_indexed]
        lines.append("Check the identifier on the slip; borrowing requests created today reach the index "
                     "after the nightly Analytics refresh.")
    else:
        head = f"Request {result.external_id}"
        if result.both_sides:
            head += ": both sides are in our consortium"
        lines = [head]
        for f in result.found:
            lines += found_lines(f)
    lines += [f"Note: {p}" for p in result.problems]
    return "\n".join(lines)
