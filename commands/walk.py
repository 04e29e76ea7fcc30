"""/p2p walk: a procedure one step at a time."""

from __future__ import annotations

import json

from bot.core.walkthrough import WalkError, Walkthroughs
from commands import messages
from commands.context import Context
from commands.replies import Reply, TextReply, WalkReply


def walkthroughs(ctx: Context) -> Walkthroughs:
    return ctx.services.walkthroughs


def handle(ctx: Context, args: str) -> WalkReply | TextReply | Reply:
    """`/p2p walk <topic or question>` - go through a procedure step by step (Next / Back / Done)."""
    walks = walkthroughs(ctx)
    wanted = args.strip()
    if not wanted:
        try:
            current = walks.active_for(ctx.user_id)
        except WalkError as exc:  # its procedure left the documentation: closed, and said
            return TextReply(str(exc))
        if current is not None:
            # a procedure that changed begins again, and says so instead
            resumed = "" if current.note else "Resuming where you left off. "
            return WalkReply(current, note=f"{resumed}`/p2p walk <procedure>` starts another.")
        procs = [t for t in ctx.services.engine.topics if t.is_procedure]
        example = next((t for t in procs if t.id == "borrow-return"), procs[0] if procs else None)
        if example is None:
            return TextReply("There are no procedures to walk through: none of the indexed pages has numbered "
                             "steps (\"1. …\", \"Step 1: …\").")
        return TextReply(f"Which procedure? e.g. `/p2p walk {example.id}`, or describe it in a few words.")
    engine = ctx.services.engine
    topic = engine.by_id.get(wanted.lower())
    if topic is None:
        res = engine.ask(wanted, top=3)
        procs = [h.topic for h in res.hits if h.topic.is_procedure]
        if not res.answered or not procs:
            if procs:
                return Reply(title="Which one?" if len(procs) > 1 else "Is it this one?",
                             sections=(messages.NOT_SURE,),
                             choices=tuple((p.title, "walk_start", json.dumps({"t": p.id}), f"walk {p.id}")
                                           for p in procs))
            return TextReply(messages.UNKNOWN_TOPIC.format(name=messages.echoed(wanted)))
        topic = procs[0]
    if not topic.is_procedure:
        return TextReply(messages.NOT_A_PROCEDURE.format(title=topic.title))
    try:
        return WalkReply(walks.start(ctx.user_id, topic))
    except WalkError as exc:
        return TextReply(str(exc), error=True)
