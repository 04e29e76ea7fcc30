"""Buttons: one table from action id to a plain function. Every click is acknowledged first, keyed so a
double delivery acts once, and answered through its ``response_url`` (or the app's DM, from App Home).

Anyone in a channel can click a button on a message there, so what replaces a message that is not
ephemeral (a thread answer, a "Did you mean …?" after an @-mention) is rendered as public (no patron on
a lookup), and the full card goes to the person who clicked, ephemerally. "Did you mean" buttons answer
only the person who asked, and only run commands that change nothing (see :func:`commands.read_only`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.outgoing import refusal
from bot.core.services import Services
from bot.frontends.blocks import render, unpack
from bot.frontends.slack.common import context_for, later, obj, once, oops, services_of, text
from commands import Context, ask, buttons, dispatch, read_only
from commands.lookup import lookup_reply
from commands.replies import CommandReply, Deferred, TextReply

SHARED = "Shared in the channel."
NOT_YOURS = "Only the person who asked can choose this. To run it yourself, type the command."
TYPE_IT = "`/p2p {command}` changes things, so it does not run from a button: type it to run it."


@dataclass(frozen=True)
class Click:
    """One button press: who, where, what it carries, and how to answer it."""

    ctx: Context
    action_id: str
    value: str
    data: dict[str, object]  # what the button carries (blocks.pack)
    body: dict[str, object]  # what Slack sent, read through text() and obj()
    respond: Respond
    client: WebClient
    private: bool = True  # the clicked message is seen only by the clicker (ephemeral, or a DM with the bot)

    @property
    def services(self) -> Services:
        return self.ctx.services

    def show(self, reply: CommandReply, replace: bool = True) -> None:
        """Answer in place of the message clicked (or below it, ephemerally); slow work follows when done."""
        deliver = self._replace if replace else self._below
        deliver(reply)
        if isinstance(reply, Deferred):
            later(self.services, reply, deliver,
                  lambda: self.respond(replace_original=replace, response_type="ephemeral", **oops().kwargs()))

    def _below(self, reply: CommandReply) -> None:
        self.respond(replace_original=False, response_type="ephemeral", **render(reply).kwargs())

    def _replace(self, reply: CommandReply) -> None:
        if self.private:
            self.respond(replace_original=True, **render(reply).kwargs())
            return
        shown = render(reply, public=True)  # everyone in the channel sees what replaces this message
        self.respond(replace_original=True, **shown.kwargs())
        full = render(reply)
        if full.kwargs() != shown.kwargs():  # what was left out, to the person who clicked only
            self._below(reply)

    def asked_by_clicker(self) -> bool:
        """A "Did you mean" button carries who asked; anyone else is told so (and nothing runs)."""
        if text(self.data, "u") and text(self.data, "u") == self.ctx.user_id:
            return True
        self.show(TextReply(NOT_YOURS), replace=False)
        return False


def walk_next(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "next"))


def walk_back(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "back"))


def walk_done(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "done"))


def walk_stop(c: Click) -> None:
    c.show(buttons.move_walk(c.ctx, c.value, "stop"))


def walk_start(c: Click) -> None:
    c.show(buttons.start_walk(c.ctx, text(c.data, "t")), replace=False)


def show_topic(c: Click) -> None:
    c.show(buttons.topic_answer(c.ctx, text(c.data, "t"), text(c.data, "q")))


def more_answers(c: Click) -> None:
    skip = c.data.get("skip")
    c.show(buttons.more_answers(c.ctx, text(c.data, "q"), [str(s) for s in skip] if isinstance(skip, list) else []),
           replace=False)


def vote_up(c: Click) -> None:
    c.show(buttons.vote(c.ctx, text(c.data, "t"), text(c.data, "q"), 1), replace=False)


def vote_down(c: Click) -> None:
    c.show(buttons.vote(c.ctx, text(c.data, "t"), text(c.data, "q"), -1), replace=False)


def partner_cmd(c: Click) -> None:
    """The button carries the partner sub-command it stands for."""
    c.show(dispatch(c.ctx, f"partner {c.value}"))


def run_command(c: Click) -> None:
    """"Did you mean `/p2p status 123`?" → yes (the person who asked; a command that changes nothing)."""
    if not c.asked_by_clicker():
        return
    command = text(c.data, "c")
    if not read_only(command):
        c.show(TextReply(TYPE_IT.format(command=command)), replace=False)
        return
    c.show(dispatch(c.ctx, command))


def ask_anyway(c: Click) -> None:
    """"Did you mean …?" → no, it is a question."""
    if c.asked_by_clicker():
        c.show(ask.handle(c.ctx, text(c.data, "q")))


def first_share(c: Click) -> bool:
    """True for the first Share of this message (keyed on the message and the action, not the response_url:
    every click, and every delivery of it, carries its own)."""
    message = text(c.body, "container", "message_ts") or hashlib.sha256(
        text(c.body, "response_url").encode()).hexdigest()[:16]
    digest = hashlib.sha256(c.value.encode()).hexdigest()[:16]
    return once(c.services, f"share:{c.ctx.channel_id}:{message}:{c.action_id}:{digest}")


def post_shared(c: Click, reply: CommandReply) -> None:
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
        post_shared(c, buttons.topic_answer(c.ctx, text(c.data, "t"), text(c.data, "q"),
                                            shared_by=c.ctx.user_id))


def share_lookup(c: Click) -> None:
    """A lookup card into the channel: looked up again (it may have moved on), without the patron."""
    if not first_share(c):
        return
    reply = lookup_reply(c.ctx, text(c.data, "x"))
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


def on_action(ack: Ack, body: dict[str, object], respond: Respond, client: WebClient, context: BoltContext) -> None:
    ack()
    services = services_of(context)
    actions = body.get("actions")
    action = obj(actions[0]) if isinstance(actions, list) and actions else {}
    user = text(body, "user", "id")
    aid = text(action, "action_id").split(".")[0]
    if aid not in ACTIONS or not once(services, f"action:{user}:{text(action, 'action_ts')}:{text(action, 'action_id')}"):
        return  # not one of ours, or the same click delivered twice
    channel = text(body, "channel", "id") or text(body, "container", "channel_id")
    value = text(action, "value")
    private = obj(body, "container").get("is_ephemeral") is True or channel.startswith("D")
    click = Click(context_for(services, user, channel), aid, value, unpack(value), body, respond, client, private)
    ACTIONS[aid](click)
