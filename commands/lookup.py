"""/p2p lookup: where a request is, by External Identifier."""

from __future__ import annotations

from bot.core.lookup import LookupInputError, clean_external_id
from bot.edges.alma.errors import AlmaError, sentence
from commands.context import Context
from commands.replies import Deferred, LookupReply, TextReply


def lookup_reply(ctx: Context, raw: str) -> Deferred | TextReply:
    try:
        ext = clean_external_id(raw)
    except LookupInputError as exc:
        return TextReply(str(exc))
    services = ctx.services
    if not services.settings.institutions:
        return TextReply("No Alma institution is configured yet, so I can't look requests up. "
                         "Ask your administrator to set P2PBOT_CONFIG or ALMA_API_URL / ALMA_API_KEY.")
    names = [i.name for i in services.settings.institutions]
    where = names[0] if len(names) == 1 else f"{len(names)} institutions"

    def run() -> LookupReply | TextReply:
        try:
            result = services.lookup.lookup(ext)
        except AlmaError as exc:  # the service already turns per-institution failures into notes
            return TextReply(sentence(exc), error=True)
        by_id = services.engine.by_id
        procedures = frozenset(f.topic_id for f in result.found
                               if f.topic_id in by_id and by_id[f.topic_id].is_procedure)
        return LookupReply(result, procedures)

    return Deferred(f"Looking up `{ext}` in {where}…", run)


def handle(ctx: Context, args: str) -> Deferred | TextReply:
    """`/p2p lookup <external id>` (or `/p2p status <external id>`) - where a request is and what to do next."""
    return lookup_reply(ctx, args)
