"""Buttons: one table from action id to a plain function. Every click is acknowledged first, keyed so a
double delivery acts once, and answered through its ``response_url`` (or the app's DM, from App Home)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.outgoing import refusal
from bot.core.services import Services
from bot.frontends.blocks import render, unpack
from bot.frontends.slack.common import context_for, later, once, oops, services_of
from commands import Context, ask, buttons, dispatch
from commands.lookup import lookup_reply
from commands.replies import AnyReply, Deferred, TextReply

SHARED = "Shared in the channel."


@dataclass(frozen=True)
class Click:
    """One button press: who, where, what it carries, and how to answer it."""

    ctx: Context
    action_id: str
    value: str
    data: dict[str, Any]
    body: dict[str, Any]
    respond: Respond
    client: WebClient

    @property
    def services(self) -> Services:
        return self.ctx.services

    def show(self, reply: AnyReply, replace: bool = True) -> None:
        """Answer in place of the message clicked (or below it); slow work follows when it is done."""
        msg = render(reply)
        if replace:
            self.respond(replace_original=True, **msg.kwargs())
        else:
            self.respond(replace_original=False, response_type="ephemeral", **msg.kwargs())
        if isinstance(reply, Deferred):
            later(self.services, reply,
                  lambda final: self.respond(replace_original=True, **render(final).kwargs()),
                  lambda: self.respond(replace_original=True, **oops().kwargs()))


def walk_next(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "next"))


def walk_back(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "back"))


def walk_done(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "done"))


def walk_stop(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "stop"))


def walk_start(c: Click) -> None:
    c.show(buttons.start_walk(c.ctx, str(c.data.get("t", ""))), replace=False)


def show_topic(c: Click) -> None:
    c.show(buttons.topic_answer(c.ctx, str(c.data.get("t", "")), str(c.data.get("q", ""))))


def more_answers(c: Click) -> None:
    c.show(buttons.more_answers(c.ctx, str(c.data.get("q", "")), [str(s) for s in c.data.get("skip", [])]),
           replace=False)


def vote_up(c: Click) -> None:
    c.show(buttons.vote(c.ctx, str(c.data.get("t", "")), str(c.data.get("q", "")), 1), replace=False)


def vote_down(c: Click) -> None:
    c.show(buttons.vote(c.ctx, str(c.data.get("t", "")), str(c.data.get("q", "")), -1), replace=False)


def partner_cmd(c: Click) -> None:
    """The button carries the partner sub-command it stands for."""
    c.show(dispatch(c.ctx, f"partner {c.value}"))


def run_command(c: Click) -> None:
    """"Did you mean `/p2p status 123`?" → yes."""
    c.show(dispatch(c.ctx, c.value))


def ask_anyway(c: Click) -> None:
    """"Did you mean …?" → no, it is a question."""
    c.show(ask.handle(c.ctx, c.value))


def first_share(c: Click) -> bool:
    """True for the first Share of this message (keyed on the message and the action, not the response_url:
    every click, and every delivery of it, carries its own)."""
    container = c.body.get("container") or {}
    message = str(container.get("message_ts") or hashlib.sha256(
        str(c.body.get("response_url", "")).encode()).hexdigest()[:16])
    digest = hashlib.sha256(c.value.encode()).hexdigest()[:16]
    return once(c.services, f"share:{c.ctx.channel_id}:{message}:{c.action_id}:{digest}")


def post_shared(c: Click, reply: AnyReply) -> None:
    """Into the channel, as everyone there may read it (``public``: no patron on a lookup)."""
    try:
        c.client.chat_postMessage(channel=c.ctx.channel_id, **render(reply, public=True).kwargs())
    except SlackApiError as exc:
        c.show(TextReply(refusal(str(exc.response.get("error", "")), c.ctx.channel_id)), replace=False)
        return
    c.show(TextReply(SHARED), replace=False)


def share_answer(c: Click) -> None:
    """One post in the channel per shared message, however many clicks (from however many deliveries)."""
    if first_share(c):
        post_shared(c, buttons.topic_answer(c.ctx, str(c.data.get("t", "")), str(c.data.get("q", "")),
                                            shared_by=c.ctx.user_id))


def share_lookup(c: Click) -> None:
    """A lookup card into the channel: looked up again (it may have moved on), without the patron."""
    if not first_share(c):
        return
    reply = lookup_reply(c.ctx, str(c.data.get("x", "")))
    if isinstance(reply, Deferred):
        later(c.services, reply, lambda final: post_shared(c, final),
              lambda: c.respond(replace_original=False, response_type="ephemeral", **oops().kwargs()))
    else:
        c.show(reply, replace=False)


Handler = Callable[[Click], None]
ACTIONS: dict[str, Handler] = {
    "walk_start": walk_start, "walk_next": walk_next, "walk_back": walk_back, "walk_done": walk_done,
    "walk_stop": walk_stop, "show_topic": show_topic, "share_answer": share_answer, "vote_up": vote_up,
    "vote_down": vote_down, "more_answers": more_answers, "partner_cmd": partner_cmd, "share_lookup": share_lookup,
    "run_command": run_command, "ask_anyway": ask_anyway,
}
# a repeated button in one block carries ".1", ".2" after its action id (see blocks.generic_message)
PATTERN = re.compile(r"^(" + "|".join(map(re.escape, ACTIONS)) + r")(\.\d+)?$")


def on_action(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
    ack()
    services = services_of(context)
    action = body["actions"][0]
    user = str((body.get("user") or {}).get("id", ""))
    if not once(services, f"action:{user}:{action.get('action_ts', '')}:{action.get('action_id')}"):
        return  # the same click delivered twice
    aid = str(action.get("action_id", "")).split(".")[0]
    channel = str((body.get("channel") or {}).get("id", "") or (body.get("container") or {}).get("channel_id", ""))
    value = str(action.get("value", ""))
    click = Click(context_for(services, user, channel), aid, value, unpack(value), body, respond, client)
    ACTIONS[aid](click)
