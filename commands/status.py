"""/p2p status: the institutions overview, or a request lookup when given an id."""

from __future__ import annotations

from bot.core.status import overview
from commands.context import Context
from commands.lookup import lookup_reply
from commands.replies import Deferred, StatusReply, TextReply


def overview_reply(ctx: Context) -> StatusReply | TextReply:
    services = ctx.services
    if not services.settings.institutions and not services.settings.docs:
        return TextReply("No Alma institution is configured yet. Set P2PBOT_CONFIG (see p2pbot.example.toml) or "
                         "ALMA_API_URL and ALMA_API_KEY.")
    return StatusReply(overview(services))


def handle(ctx: Context, args: str) -> StatusReply | TextReply | Deferred:
    """`/p2p status` - each institution at a glance; `/p2p status <external id>` - look a request up."""
    if args.strip():
        return lookup_reply(ctx, args)
    return overview_reply(ctx)
