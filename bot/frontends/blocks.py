"""Block Kit for every message the bot sends, built with ``slack_sdk.models`` so Slack's limits are
checked before anything leaves (``to_dict()`` validates). Long answers are split to stay within 3,000
characters a section and 50 blocks a message; every message has a top-level ``text`` fallback; text that
came from a person (or from Alma) goes through :func:`bot.frontends.escaping.neutral`, the one function
that makes text inert: no ``@channel``/``@here``/``@everyone``/user-group ping, no live link, and the
bot's own ``<placeholders>`` shown as typed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.answers import Result
from bot.core.expiry import ExpiryReport, InstitutionExpiry, LastExpiry
from bot.core.kb import Topic
from bot.core.lookup import Found, LookupResult
from bot.core.outgoing import literal
from bot.core.reminders import Reminder
from bot.core.walkthrough import Walk
from bot.edges.store import age
from bot.frontends import present
from bot.frontends.escaping import escape, neutral, plain
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

__all__ = ["Message", "escape", "expiry_messages", "neutral", "pack", "reminder_message", "render", "unpack"]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_BUTTON_VALUE = 2000


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]
    public: bool = False

    def kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def mrkdwn(text: str) -> str:
    """Knowledge-base markdown to Slack mrkdwn (escaped; tables as preformatted text)."""
    out: list[str] = []
    table: list[str] = []
    for line in escape(text).splitlines():
        if line.lstrip().startswith("|"):
            if re.match(r"^\s*\|[\s:|-]+\|\s*$", line):
                continue
            table.append(" | ".join(c.strip() for c in line.strip().strip("|").split("|")))
            continue
        if table:
            out.append("```" + "\n".join(table) + "```")
            table = []
        line = re.sub(r"^(#+)\s*(.+)$", r"*\2*", line)
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        if line.endswith(":") and not line.startswith(("-", "•")) and len(line) < 80 and "\n" not in line:
            line = f"*{line}*"
        out.append(line)
    if table:
        out.append("```" + "\n".join(table) + "```")
    return "\n".join(out).strip()


def chunks(text: str, limit: int = MAX_SECTION) -> list[str]:
    """Split on line boundaries so each piece fits one section."""
    pieces: list[str] = []
    cur = ""
    for line in text.splitlines():
        while len(line) > limit:
            pieces.append(line[:limit])
            line = line[limit:]
        if len(cur) + len(line) + 1 > limit:
            pieces.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur.strip():
        pieces.append(cur)
    return pieces or [" "]


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def header(text: str) -> HeaderBlock:
    """Plain text (Slack never pings from plain_text), so only our mention marks need turning into words."""
    return HeaderBlock(text=PlainTextObject(text=_clip(plain(text), MAX_HEADER) or " ", emoji=True))


def section(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks(text)]


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text, MAX_SECTION))])


def button(label: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=_clip(plain(label), 75), emoji=True), action_id=action_id,
                         value=_clip(value, MAX_BUTTON_VALUE), style=style)


def pack(**data: str | list[str]) -> str:
    """A button value: compact JSON that always fits Slack's 2,000 characters."""
    raw = json.dumps(data, separators=(",", ":"))
    while len(raw) > MAX_BUTTON_VALUE and data.get("q"):
        data["q"] = str(data["q"])[: max(0, len(str(data["q"])) - (len(raw) - MAX_BUTTON_VALUE) - 10)]
        raw = json.dumps(data, separators=(",", ":"))
    return raw


def unpack(value: str) -> dict[str, object]:
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def finish(blocks: list[Block], text: str, public: bool = False) -> Message:
    """Validate every block, keep within 50, and attach the fallback text."""
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], context("…more than fits in one Slack message; see the source.")]
    dicts = [b.to_dict() for b in blocks]  # raises SlackObjectFormationError if a limit is broken
    # the fallback is what notifications show, and Slack reads it as mrkdwn too: inert like the rest
    return Message(text=_clip(neutral(text), 3000) or " ", blocks=dicts, public=public)


# -- replies -------------------------------------------------------------------------------------------
def answer_message(result: Result, question: str, shared_by: str = "") -> Message:
    q = neutral(literal(question))  # echoed in italics and in quotes: the person's own * _ ~ ` stay as typed
    if not result.hits:
        return finish(section(messages.NOTHING_FOUND), messages.NOTHING_FOUND)
    if not result.answered:
        blocks: list[Block] = [*section(f"{messages.NOT_SURE}\n_You asked: {_clip(q, 300)}_")]
        for h in result.hits[:3]:
            blocks.append(SectionBlock(
                text=MarkdownTextObject(text=f"*{escape(h.topic.title)}*\n{_clip(escape(h.answer), 280)}"),
                accessory=button("Show me", "show_topic", pack(t=h.topic.id, q=question))))
        return finish(blocks, f"{messages.NOT_SURE} " + ", ".join(h.topic.title for h in result.hits[:3]))
    best = result.hits[0]
    topic = best.topic
    blocks = [header(topic.title), *section(mrkdwn(best.answer))]
    who = f"Shared by <@{shared_by}> · " if shared_by else ""
    blocks.append(context(f"{who}Source: {cite(topic)} · Question: “{_clip(q, 200)}”"))
    if not shared_by:
        value = pack(t=topic.id, q=question)
        buttons = []
        if topic.is_procedure:
            buttons.append(button("Walk me through it", "walk_start", value, "primary"))
        more = pack(q=question, skip=[h.topic.id for h in result.hits[:1]])
        buttons += [button("Share in channel", "share_answer", value), button("👍", "vote_up", value),
                    button("👎", "vote_down", value), button("Not what I need", "more_answers", more)]
        blocks.append(ActionsBlock(elements=buttons))
    return finish(blocks, f"{topic.title}: {_clip(best.answer, 300)}", public=bool(shared_by))


def cite(topic: Topic) -> str:
    """The source as Slack mrkdwn: a link (URL with the section's anchor) when there is one."""
    label, link = topic.citation()
    if link and "|" not in link and ">" not in link:
        return f"<{link}|{escape(label)}>"
    return escape(label)


def progress_bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "▰" * filled + "▱" * (width - filled)


def walk_message(reply: WalkReply) -> Message:
    w = reply.walk
    t = w.topic
    if w.status == "done":
        how_far = f"all {w.total} steps" if w.step >= w.total - 1 else f"finished at step {w.step + 1} of {w.total}"
        text = f"✅ Done: *{escape(t.title)}*, {how_far}." + (" Nice work." if w.step >= w.total - 1 else "")
        return finish([*section(text), context(f"Source: {cite(t)}")], f"Done: {t.title}")
    if w.status == "stopped":
        text = (f"Stopped *{escape(t.title)}* at step {w.step + 1} of {w.total}. "
                f"`/p2p walk {escape(t.id)}` starts it again.")
        return finish(section(text), f"Stopped: {t.title}")
    step = t.steps[w.step]
    blocks: list[Block] = [header(t.place_title),
                           context(f"Step {w.step + 1} of {w.total}  {progress_bar(w.step + 1, w.total)}"),
                           *section(f"*{step.number}.* {mrkdwn(step.text)}")]
    for note in (w.note, reply.note):  # the procedure changed and began again; how the person got here
        if note:
            blocks.append(context(escape(note)))
    buttons = []
    if w.step > 0:
        buttons.append(button("◀ Back", "walk_back", w.token))
    buttons.append(button("Finish ✓" if w.is_last else "Next ▶", "walk_next", w.token, "primary"))
    if not w.is_last:
        buttons.append(button("Done", "walk_done", w.token))
    buttons.append(button("Stop", "walk_stop", w.token, "danger"))
    blocks.append(ActionsBlock(elements=buttons))
    return finish(blocks, f"{t.title}, step {w.step + 1} of {w.total}: {step.text}")


def _found_fields(f: Found, public: bool) -> str:
    """One side of a request. ``public``: for a channel or thread, so nothing that names or identifies the
    patron (the requester) is shown; the person who asked gets that part privately."""
    side = "Borrowing (our patron)" if f.kind == "borrowing" else "Lending (we lend)"
    partner = f.partner_name or f.partner_code
    lines = [f"*{neutral(f.institution_name)}*, {side}",
             f"*Status:* {neutral(f.status_label or f.status)}",
             f"*Partner:* {neutral(partner)}" + (f" ({neutral(f.partner_code)})" if f.partner_name else ""),
             f"*Title:* {neutral(_clip(f.title, 200))}",
             f"*Created:* {neutral(f.created[:10])} · *Changed:* {neutral(f.modified[:10])}",
             f"*Request:* {neutral(f.request_id)} in {neutral(f.library)}"
             + (f" · patron {neutral(f.requester)}" if f.requester and not public else ""),
             f"_From {neutral(f.source)}, {age(f.as_of)}_"]
    return "\n".join(lines)


def lookup_message(result: LookupResult, procedures: frozenset[str] = frozenset(), public: bool = False) -> Message:
    ext = neutral(result.external_id)
    if not result.found and result.could_not_check:
        text = (f"`{ext}` is not in my index, and I could not ask Alma everywhere, so I can't say it doesn't "
                "exist:\n" + "\n".join(neutral(c) for c in result.could_not_check))
        blocks: list[Block] = [*section(text)]
    elif not result.found:
        text = (f"No request with External Identifier `{ext}` in "
                + ("what I can search of " if result.not_indexed else "")
                + (neutral(", ".join(result.searched)) or "any institution")
                + (" (I also searched Alma live)." if result.live_scan else ".")
                + "\nCheck the identifier on the slip. Borrowing requests created today reach me after the nightly "
                  "Analytics refresh.")
        if result.not_indexed:
            text += "\nNot indexed yet, so it may be there: " + "; ".join(neutral(n) for n in result.not_indexed[:5])
        blocks = [*section(text)]
    else:
        title = f"Request {result.external_id}" + (" (both sides are ours)" if result.both_sides else "")
        blocks = [header(title)]
        if result.both_sides:
            fields = [MarkdownTextObject(text=_clip(_found_fields(f, public), MAX_FIELD)) for f in result.found[:2]]
            blocks.append(SectionBlock(fields=fields))
        else:
            blocks += section(_found_fields(result.found[0], public))
        for f in result.found:
            who = f"{neutral(f.institution_name)}: " if len(result.found) > 1 else ""
            walk = (button("Walk me through it", "walk_start", pack(t=f.topic_id))
                    if f.topic_id in procedures else None)  # only for a real step-by-step procedure
            blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*Next:* {who}{neutral(f.next_step)}"),
                                       accessory=walk))
        if public and any(f.requester for f in result.found):
            blocks.append(context("Patron details are not shown in channels; the person who asked has them."))
        if not public:  # shared, the card goes out without the patron
            blocks.append(ActionsBlock(elements=[button("Share in channel", "share_lookup",
                                                        pack(x=result.external_id))]))
    if result.problems:
        blocks.append(context(" ".join(neutral(p) for p in result.problems)))
    summary = (f"{result.external_id}: " + "; ".join(f"{f.institution} {f.kind} {f.status_label}"
                                                     for f in result.found)) if result.found else \
        (f"Could not check {result.external_id} everywhere." if result.could_not_check
         else f"No request {result.external_id} found.")
    return finish(blocks, summary, public=public)


def text_message(reply: TextReply) -> Message:
    text = ("⚠️ " if reply.error else "") + reply.text
    return finish(section(neutral(text)), text, public=reply.public)


def generic_message(reply: Reply) -> Message:
    blocks: list[Block] = [header(reply.title)] if reply.title else []
    for s in reply.sections:
        blocks += section(neutral(s))
    if reply.footer:
        blocks.append(context(neutral(reply.footer)))
    if reply.choices:
        for k in range(0, len(reply.choices), 5):
            seen: dict[str, int] = {}
            elements = []
            for c in reply.choices[k:k + 5]:
                # action_id must be unique within a block: repeats get ".1", ".2" (the router strips it)
                n = seen.get(c[1], 0)
                seen[c[1]] = n + 1
                elements.append(button(c[0], c[1] if n == 0 else f"{c[1]}.{n}", c[2]))
            blocks.append(ActionsBlock(elements=elements))
    fallback = reply.title or (reply.sections[0] if reply.sections else " ")
    return finish(blocks, fallback, public=reply.public)


def _expiry_line(i: InstitutionExpiry) -> str:
    from bot.core.expiry import ICONS

    when = ""
    if i.started:
        when = f" {i.started[11:16]}" + (f"–{i.ended[11:16]}" if i.ended else "")
    counted = f", {i.expired} expired" if i.expired is not None and i.status in ("ok", "warning") else ""
    label = {"ok": "ran", "warning": "ran with problems", "running": "still running", "failed": "FAILED",
             "missing": "did NOT run", "unknown": "could not check"}[i.status]
    return f"{ICONS[i.status]} *{neutral(i.name)}* ({neutral(i.code)}): {label}{when}{counted}"


def _local(stamp: str | None, zone: tzinfo | None) -> str:
    """An Alma time (UTC, ``…Z``) in the institution's local time, as ``HH:MM`` on ``YYYY-MM-DD``."""
    if not stamp:
        return "?"
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if zone is not None and when.tzinfo is not None:
        when = when.astimezone(zone)
    return when.strftime("%Y-%m-%d %H:%M")


def _zone(i: InstitutionExpiry) -> tzinfo | None:
    """The institution's local zone, as the check wrote its start/end times in it."""
    for stamp in (i.started, i.ended):
        if stamp:
            try:
                return datetime.fromisoformat(stamp).tzinfo
            except ValueError:
                continue
    return None


def expiry_summary(report: ExpiryReport) -> str:
    """The notification line: what needs attention, what ran with warnings, what could not be checked."""
    bad = [i.code for i in report.institutions if i.status in ("missing", "failed", "running")]
    warned = [i.code for i in report.institutions if i.status == "warning"]
    unknown = [i.code for i in report.institutions if i.status == "unknown"]
    if bad:
        parts = [f"{len(bad)} need attention: " + ", ".join(bad) + (f"; {len(warned)} with warnings: "
                                                                     + ", ".join(warned) if warned else "")]
    elif unknown:
        parts = [f"{len(warned)} with warnings: " + ", ".join(warned)] if warned else []
    else:
        parts = ["All ran." if not warned else f"All ran, {len(warned)} with warnings: " + ", ".join(warned)]
    if unknown:  # Alma could not be asked: not an alarm
        parts.append("Could not check: " + ", ".join(unknown) + ".")
    return " ".join(parts)


def expiry_messages(report: ExpiryReport, late: bool = False) -> tuple[Message, Message]:
    """The channel post (summary, one line per institution) and its thread reply (the details)."""
    bad = [i for i in report.institutions if i.status in ("missing", "failed", "running")]
    unknown = [i for i in report.institutions if i.status == "unknown"]
    title = f"Expired Resource Sharing Requests job, {report.date}"
    blocks: list[Block] = [header(("⏰ Late: " if late else "") + title)]
    if late:
        blocks.append(context("The bot was down at the usual time, so this check comes late."))
    for i in report.institutions:
        if i.status in ("missing", "failed"):
            blocks.append(SectionBlock(text=MarkdownTextObject(text=_expiry_line(i)),
                                       accessory=button("How to fix", "walk_start", pack(t="config-expiry-job"),
                                                        "danger")))
        else:
            blocks += section(_expiry_line(i))
    unknown = [i for i in report.institutions if i.status == "unknown"]
    if unknown:  # Alma could not be asked: not an alarm, and no "how to fix" for a job that may have run
        blocks.append(context("❔ Alma could not be asked for " + ", ".join(i.code for i in unknown)
                              + "; the reason is in the thread."))
    summary = expiry_summary(report)
    if bad:
        blocks.append(context("Requests only move on to the next lender when this job runs. Details in the thread."))
    main = finish(blocks, ("Late: " if late else "") + f"{title}: {summary}", public=True)
    lines = []
    for i in report.institutions:
        lines.append(f"*{neutral(i.name)}*: {neutral(i.detail)}")
        zone = _zone(i)
        for r in i.runs:
            lines.append(f"  • run {neutral(r.id)}: {neutral(r.status_label or r.status)}, "
                         f"started {_local(r.started, zone)}" + (f", ended {_local(r.ended, zone)}" if r.ended else "")
                         + (f", expired {r.expired}" if r.expired is not None else ""))
    thread = finish(section("\n".join(lines) or "No details."), f"Details for {title}", public=True)
    return main, thread


def reminder_message(r: Reminder) -> Message:
    text = f"⏰ {neutral(r.text)}"
    return finish([*section(text), context(f"Reminder #{r.id} ({neutral(r.spec)}) · `/p2p remind list`")],
                  f"Reminder: {r.text}", public=True)


def render(reply: object, public: bool = False) -> Message:
    """Block Kit for a reply. ``public``: it goes to a channel or thread everyone there can read, so
    private details (a patron on a lookup) are left out."""
    if isinstance(reply, PartnerReply):
        return render(present.partner(reply), public)
    if isinstance(reply, StatusReply):
        return generic_message(present.status(reply))
    if isinstance(reply, ExpiryReply):
        main, _thread = expiry_messages(reply.report, reply.late)
        return Message(main.text, main.blocks, public=False)
    if isinstance(reply, AnswerReply):
        return answer_message(reply.result, reply.question, reply.shared_by)
    if isinstance(reply, WalkReply):
        return walk_message(reply)
    if isinstance(reply, LookupReply):
        return lookup_message(reply.result, reply.procedures, public)
    if isinstance(reply, TextReply):
        return text_message(reply)
    if isinstance(reply, Reply):
        return generic_message(reply)
    if isinstance(reply, Deferred):
        return text_message(TextReply(reply.progress))
    if isinstance(reply, Message):
        return reply
    raise TypeError(f"no Block Kit rendering for {type(reply).__name__}")


# -- App Home --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HomeFacts:
    """What the Home tab shows one person (gathered by the Slack front end, drawn here)."""

    walk: Walk | None
    today: str  # local date, YYYY-MM-DD
    expiry: tuple[tuple[str, str, LastExpiry | None], ...]  # (name, code, last result or None)
    topics: int
    procedures: int
    index: tuple[tuple[str, str], ...]  # (institution name, last sync ISO time or "")
    docs: tuple[str, ...] = ()  # one line per documentation source (P2PBOT_DOCS): fresh, failing, not yet read


HOME_ACTIONS = {"home_ask": "Ask a question", "home_lookup": "Look up a request", "home_walk": "Start a walkthrough"}


def home_view(facts: HomeFacts) -> dict[str, Any]:
    """The Home tab (``views.publish``): the walkthrough in progress, today's expiry-job result per
    institution, how fresh the knowledge and the request index are, and the common actions."""
    from bot.core.expiry import ICONS

    blocks: list[Block] = [header("P2P resource sharing"),
                           ActionsBlock(elements=[button(label, aid, aid, "primary" if aid == "home_ask" else None)
                                                  for aid, label in HOME_ACTIONS.items()])]
    w = facts.walk
    if w is not None and w.status == "active":
        blocks.append(SectionBlock(
            text=MarkdownTextObject(text=f"*Your walkthrough:* {escape(w.topic.title)}, step {w.step + 1} of "
                                         f"{w.total}  {progress_bar(w.step + 1, w.total)}"),
            accessory=button("Resume", "home_resume", w.token)))
    else:
        blocks += section(neutral("*Your walkthrough:* none in progress. Start one with the button above or "
                                  "`/p2p walk <procedure>`."))
    lines = []
    for name, code, last in facts.expiry:
        if not last:
            lines.append(f"⚪ *{neutral(name)}* ({neutral(code)}): not checked yet")
            continue
        status = str(last.get("status", "?"))
        when = "today" if last.get("date") == facts.today else f"last checked for {neutral(str(last.get('date')))}"
        icon = ICONS.get(status, "⚪") if last.get("date") == facts.today else "⚪"
        counted = f", {last['expired']} expired" if last.get("expired") is not None else ""
        lines.append(f"{icon} *{neutral(name)}* ({neutral(code)}): {neutral(status)} {when}{counted}")
    blocks += section("*Expired Resource Sharing Requests job*\n" + ("\n".join(lines) or "No institution configured."))
    fresh = [f"Knowledge: {facts.topics} topics, {facts.procedures} step-by-step procedures."]
    fresh += [f"Request index for {neutral(name)}: synced {age(synced) if synced else 'never'}."
              for name, synced in facts.index]
    blocks.append(context(" ".join(fresh)))
    if facts.docs:
        blocks += section("*Your library's documentation*\n" + "\n".join(neutral(d) for d in facts.docs[:20]))
    dicts = [b.to_dict() for b in blocks[:100]]
    return View(type="home", blocks=dicts).to_dict()  # type: ignore[no-untyped-call]


def input_modal(callback_id: str, title: str, label: str, hint: str) -> dict[str, Any]:
    """A one-field modal (Ask / Look up / Walk from the Home tab)."""
    view = View(type="modal", callback_id=callback_id, title=PlainTextObject(text=_clip(title, 24)),
                submit=PlainTextObject(text="Go"), close=PlainTextObject(text="Cancel"),
                blocks=[InputBlock(block_id="q", label=PlainTextObject(text=_clip(label, 2000)),
                                   element=PlainTextInputElement(action_id="text", max_length=2000,
                                                                 placeholder=PlainTextObject(text=_clip(hint, 150))))])
    return view.to_dict()  # type: ignore[no-untyped-call]
