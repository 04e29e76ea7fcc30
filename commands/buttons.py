"""What the buttons do (Walk me through it, Next / Back / Done / Stop, Share, 👍 / 👎, Not what I need),
front-end neutral: Slack's action listeners and the terminal chat's typed choices both call these."""

from __future__ import annotations

import json

from bot.core.answers import Hit, Result, answer_text
from bot.core.feedback import record_vote
from bot.core.walkthrough import WalkError
from commands import messages
from commands.context import Context
from commands.replies import AnswerReply, Reply, TextReply, WalkReply
from commands.walk import walkthroughs

THANKS_UP = "Thanks! Glad that helped."
THANKS_DOWN = "Thanks for telling me. I've noted it so the answer can be improved."
ALREADY_VOTED = "You already rated this answer; thanks."


def start_walk(ctx: Context, topic_id: str) -> WalkReply | TextReply:
    topic = ctx.services.engine.by_id.get(topic_id)
    if topic is None:
        return TextReply(messages.UNKNOWN_TOPIC.format(name=messages.echoed(topic_id)))
    if not topic.is_procedure:
        return TextReply(messages.NOT_A_PROCEDURE.format(title=topic.title))
    return WalkReply(walkthroughs(ctx).start(ctx.user_id, topic))


def move_walk(ctx: Context, token: str, action: str) -> WalkReply | TextReply:
    try:
        walk = walkthroughs(ctx).move(token, action, user_id=ctx.user_id)
    except WalkError as exc:
        return TextReply(str(exc))
    return WalkReply(walk)


def topic_answer(ctx: Context, topic_id: str, question: str, shared_by: str = "") -> AnswerReply | TextReply:
    """The answer for one chosen topic (from a suggestion, or shared), shown as if it were the best hit."""
    engine = ctx.services.engine
    topic = engine.by_id.get(topic_id)
    if topic is None:
        return TextReply(messages.UNKNOWN_TOPIC.format(name=messages.echoed(topic_id)))
    ranked = engine.ask(question, top=10) if question else None
    hit = next((h for h in (ranked.hits if ranked else ()) if h.topic.id == topic_id), None)
    if hit is None:
        heading, text = answer_text(topic)
        hit = Hit(topic, 0.0, 1.0, text, heading)
    return AnswerReply(Result(question or topic.title, True, 1.0, (hit,)), question or topic.title, shared_by)


def more_answers(ctx: Context, question: str, skip: list[str]) -> Reply:
    res = ctx.services.engine.ask(question, top=3 + len(skip))
    hits = [h for h in res.hits if h.topic.id not in skip][:3]
    if not hits:
        return Reply(title="Nothing else fits", sections=(messages.NOTHING_FOUND,))
    return Reply(title="Other pages that might help",
                 sections=tuple(f"*{h.topic.title}*\n{h.answer[:280]}" for h in hits),
                 choices=tuple((f"Show: {h.topic.title[:60]}", "show_topic",
                                json.dumps({"t": h.topic.id, "q": question}), f"ask {h.topic.title}") for h in hits))


def vote(ctx: Context, topic_id: str, question: str, value: int) -> TextReply:
    if not record_vote(ctx.services.store, ctx.user_id, question, topic_id, value):
        return TextReply(ALREADY_VOTED)
    return TextReply(THANKS_UP if value > 0 else THANKS_DOWN)
