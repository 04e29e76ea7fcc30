"""/p2p expiry: run the expiry-job check now."""

from __future__ import annotations

from bot.core import expiry
from bot.core.outgoing import literal
from commands.context import Context
from commands.replies import Deferred, ExpiryReply, TextReply


def handle(ctx: Context, args: str) -> Deferred | TextReply:
    """`/p2p expiry [institution]` - did last night's Expired Resource Sharing Requests job run?"""
    services = ctx.services
    insts = list(services.settings.institutions)
    if not insts:
        return TextReply("No Alma institution is configured yet, so there is no job to check.")
    wanted = args.strip()
    if wanted:
        insts = [i for i in insts if wanted.lower() in (i.code.lower(), i.name.lower())]
        if not insts:
            codes = ", ".join(i.code for i in services.settings.institutions)
            return TextReply(f"I don't know an institution called \"{literal(wanted)}\". Try one of: {codes}.")

    def run() -> ExpiryReply:
        return ExpiryReply(expiry.check(insts, services.alma, services.store))

    return Deferred(f"Checking the expiry job in {len(insts)} institution(s)…", run)
