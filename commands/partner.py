"""/p2p partner: onboard a Resource Sharing Directory partner, track the UI-only steps, audit drift."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk.errors import SlackApiError

from bot.core.partners import PartnerError, onboarding
from bot.edges.alma.errors import AlmaError, sentence
from commands.context import Context
from commands.replies import Deferred, PartnerReply, Reply, TextReply

log = logging.getLogger(__name__)
USAGE = ("`/p2p partner add <code, ISO symbol or name>` · `/p2p partner list` · `/p2p partner check <code>` · "
         "`/p2p partner lists` (the names each In List should hold)")
NOT_ALLOWED = ("Only partner managers can change partner profiles. Ask your administrator to add you (or your "
               "user group) to `partners.managers` in the bot's configuration.")
_groups: dict[str, tuple[float, set[str]]] = {}
_groups_lock = threading.Lock()


def known_permission(ctx: Context) -> bool | None:
    """Whether the person may change partners, when that is known without asking Slack (None: only a
    user-group lookup can tell, which must wait until after the acknowledgement)."""
    if ctx.surface != "slack" or ctx.user_id in ctx.services.settings.partner_policy.managers:
        return True
    if not any(m.startswith("S") for m in ctx.services.settings.partner_policy.managers):
        return False
    return None


def allowed(ctx: Context) -> bool:
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


CHANGES = ("add", "recheck", "confirm", "done")
SLOW = {"add": "Looking the partner up in Alma…", "recheck": "Looking again in Alma…",
        "confirm": "Updating the partner profile in Alma and reading it back…",
        "check": "Reading the partner profile from Alma…", "lists": "Reading the partner list from Alma…",
        "done": "Ticking it off…"}


def handle(ctx: Context, args: str) -> Reply | TextReply | PartnerReply | Deferred:
    """`/p2p partner add <code or ISO symbol>` / `partner list` / `partner check <code>` - onboard and audit P2P partners."""
    verb = args.strip().partition(" ")[0].lower()
    if verb in CHANGES and known_permission(ctx) is False:
        return TextReply(NOT_ALLOWED)
    if verb in SLOW:  # these ask Alma (or Slack, for user groups): acknowledge first, then do it
        return Deferred(SLOW[verb], lambda: _handle(ctx, args))
    return _handle(ctx, args)


def _handle(ctx: Context, args: str) -> Reply | TextReply | PartnerReply:
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
            return PartnerReply(ob.preview(rest, ctx.user_id, refresh=verb == "recheck"), query=rest)
        if verb == "confirm":
            if not allowed(ctx):
                return TextReply(NOT_ALLOWED)
            parts = rest.split()
            if len(parts) < 2:
                return TextReply("Usage: `/p2p partner confirm <institution> <code>`")
            ob = onboarding(ctx.services, parts[0])
            return PartnerReply(ob.confirm(parts[1], ctx.user_id, parts[2] if len(parts) > 2 else ""))
        if verb == "done":
            if not allowed(ctx):
                return TextReply(NOT_ALLOWED)
            parts = rest.split()
            if len(parts) != 3:
                return TextReply("Usage: `/p2p partner done <institution> <code> <item>`")
            ob = onboarding(ctx.services, parts[0])
            out, finished = ob.mark_done(parts[1], parts[2], ctx.user_id)
            return PartnerReply(out, finished=finished)
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
            return PartnerReply(onboarding(ctx.services).check(rest), query=rest)
        if verb == "lists":
            lists = onboarding(ctx.services, rest or None).in_list_names()
            return Reply(title="What each In List should hold", sections=tuple(
                f"*{rule}* ({len(names)}):\n" + "\n".join(names) for rule, names in lists.items()))
    except PartnerError as exc:
        return TextReply(str(exc))
    except AlmaError as exc:
        return TextReply(sentence(exc), error=True)
    return TextReply(USAGE)
