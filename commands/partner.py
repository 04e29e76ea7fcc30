"""/p2p partner: onboard a Resource Sharing Directory partner, track the UI-only steps, audit drift."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core.partners import Outcome, PartnerError, onboarding
from bot.edges.alma.errors import AlmaError, sentence
from commands.replies import Deferred, Reply, TextReply

log = logging.getLogger(__name__)
USAGE = ("`/p2p partner add <code, ISO symbol or name>` · `/p2p partner list` · `/p2p partner check <code>` · "
         "`/p2p partner lists` (the names each In List should hold)")
NOT_ALLOWED = ("Only partner managers can change partner profiles. Ask your administrator to add you (or your "
               "user group) to `partners.managers` in the bot's configuration.")
_groups: dict[str, tuple[float, set[str]]] = {}
_groups_lock = threading.Lock()


def allowed(ctx: Any) -> bool:
    """The terminal and CLI are trusted (they run on the server); in Slack, the configured user ids or
    members of the configured user groups (usergroups.users.list, cached ten minutes)."""
    if ctx.surface != "slack":
        return True
    managers = ctx.services.settings.partner_policy.managers
    if ctx.user_id in managers:
        return True
    for gid in (m for m in managers if m.startswith("S")):
        with _groups_lock:
            hit = _groups.get(gid)
        if hit is None or time.monotonic() - hit[0] > 600:
            try:
                users = set(ctx.services.slack.usergroups_users_list(usergroup=gid).get("users") or [])
            except SlackApiError:  # Slack said no (missing scope, unknown group): treat as not a member
                log.warning("could not read user group %s", gid)
                users = set()
            with _groups_lock:
                _groups[gid] = (time.monotonic(), users)
            hit = _groups[gid]
        if ctx.user_id in hit[1]:
            return True
    return False


def _checklist_lines(out: Outcome) -> str:
    lines = []
    for c in out.checklist:
        mark = "✅" if c["done"] else "☐"
        who = f" (done by {c['done_by']}, {c['done_at']})" if c["done"] else ""
        lines.append(f"{mark} *{c['title']}*{who}\n    {c['how']}")
    return "\n".join(lines)


def _checklist_choices(out: Outcome) -> tuple[tuple[str, ...], ...]:
    import json

    choices: list[tuple[str, ...]] = []
    for c in out.checklist:
        if not c["done"]:
            cmd = f"done {out.institution} {out.code} {c['item']}"
            choices.append((f"Done: {c['item']}", "partner_cmd", cmd, f"partner {cmd}"))
            choices.append((f"Walk me through: {c['item']}", "walk_start", json.dumps({"t": c["topic"]}),
                            f"walk {c['topic']}"))
    return tuple(choices)


def render(out: Outcome) -> Reply | TextReply:
    if out.state in ("refused", "failed") and not out.checklist:
        return TextReply(out.message, error=out.state == "failed")
    if out.state == "not_found":
        q = out.message.split('"')[1] if '"' in out.message else out.code
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


def _post_summary(ctx: Any, out: Outcome) -> None:
    services = ctx.services
    channel = services.settings.rs_channel
    if not channel or not services.settings.slack_bot_token:
        return
    lines = [f"✅ *{out.name}* ({out.code}) is now a P2P partner at {out.institution}."]
    lines += [f"• {c['title']}: {c['done_by']}, {c['done_at']}" for c in out.checklist]
    try:
        services.slack.chat_postMessage(channel=channel, text="\n".join(lines))
    except SlackApiError:  # the onboarding is recorded; a failed announcement is only logged
        log.warning("could not post the onboarding summary to %s", channel)


def handle(ctx: Any, args: str) -> Reply | TextReply | Deferred:
    """`/p2p partner add <code or ISO symbol>` / `partner list` / `partner check <code>` - onboard and audit P2P partners."""
    verb = args.strip().partition(" ")[0].lower()
    if verb in ("add", "recheck", "confirm", "check", "lists"):  # these ask Alma: acknowledge first
        if verb in ("add", "recheck", "confirm") and not allowed(ctx):
            return TextReply(NOT_ALLOWED)
        what = {"add": "Looking the partner up in Alma…", "recheck": "Looking again in Alma…",
                "confirm": "Updating the partner profile in Alma and reading it back…",
                "check": "Reading the partner profile from Alma…", "lists": "Reading the partner list from Alma…"}[verb]
        return Deferred(what, lambda: _handle(ctx, args))
    return _handle(ctx, args)


def _handle(ctx: Any, args: str) -> Reply | TextReply:
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    try:
        if verb in ("add", "recheck"):
            if not rest:
                return TextReply("Which partner? " + USAGE)
            if not allowed(ctx):
                return TextReply(NOT_ALLOWED)
            ob = onboarding(ctx.services)
            return render(ob.preview(rest, ctx.user_id, refresh=verb == "recheck"))
        if verb == "confirm":
            if not allowed(ctx):
                return TextReply(NOT_ALLOWED)
            parts = rest.split()
            if len(parts) < 2:
                return TextReply("Usage: `/p2p partner confirm <institution> <code>`")
            ob = onboarding(ctx.services, parts[0])
            return render(ob.confirm(parts[1], ctx.user_id, parts[2] if len(parts) > 2 else ""))
        if verb == "done":
            if not allowed(ctx):
                return TextReply(NOT_ALLOWED)
            parts = rest.split()
            if len(parts) != 3:
                return TextReply("Usage: `/p2p partner done <institution> <code> <item>`")
            ob = onboarding(ctx.services, parts[0])
            out, finished = ob.mark_done(parts[1], parts[2], ctx.user_id)
            if finished:
                _post_summary(ctx, out)
            return render(out)
        if verb == "list":
            ob = onboarding(ctx.services, rest or None)
            rows = ob.registry()
            if not rows:
                return TextReply("No partners onboarded through the bot yet. " + USAGE)
            return Reply(title=f"P2P partners onboarded ({ob.inst.code})", sections=("\n".join(
                f"• *{r['name']}* ({r['code']}): {r['state'].replace('_', ' ')}, checklist {r['done']}/{r['total']}"
                for r in rows),))
        if verb == "check":
            if not rest:
                return TextReply("Which partner? `/p2p partner check <code>`")
            return render(onboarding(ctx.services).check(rest))
        if verb == "lists":
            lists = onboarding(ctx.services, rest or None).in_list_names()
            return Reply(title="What each In List should hold", sections=tuple(
                f"*{rule}* ({len(names)}):\n" + "\n".join(names) for rule, names in lists.items()))
    except PartnerError as exc:
        return TextReply(str(exc))
    except AlmaError as exc:
        return TextReply(sentence(exc), error=True)
    return TextReply(USAGE)
