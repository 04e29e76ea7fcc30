"""/p2p ask: a guided answer from the staff procedures."""

from __future__ import annotations

from commands import messages
from commands.context import Context
from commands.replies import AnswerReply, TextReply


def handle(ctx: Context, args: str) -> AnswerReply | TextReply:
    """`/p2p <question>` or `/p2p ask <question>` - the right procedure or FAQ, with its source."""
    question = args.strip()
    if not question:
        return TextReply(messages.EMPTY_QUESTION)
    return AnswerReply(ctx.services.engine.ask(question, top=3), question)
