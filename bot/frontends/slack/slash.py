"""``/p2p``: the reply goes back in the acknowledgement itself (ephemeral); slow work acknowledges with a
progress line and replaces it through the ``response_url`` when done."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext, Respond

from bot.frontends.blocks import render
from bot.frontends.escaping import incoming
from bot.frontends.slack.common import context_for, later, once, oops, services_of
from commands import dispatch
from commands.replies import CommandReply, Deferred


def on_p2p(ack: Ack, body: dict[str, object], respond: Respond, context: BoltContext) -> None:
    services = services_of(context)
    if not once(services, f"cmd:{body.get('trigger_id') or body.get('response_url', '')}"):
        ack()  # Slack's retry of a command already answered
        return
    ctx = context_for(services, str(body.get("user_id", "")), str(body.get("channel_id", "")))
    reply = dispatch(ctx, incoming(str(body.get("text", ""))))  # local work only: no Slack or Alma call
    msg = render(reply)
    ack(response_type="in_channel" if msg.public else "ephemeral", **msg.kwargs())
    if isinstance(reply, Deferred):
        def deliver(final: CommandReply) -> None:
            respond(replace_original=True, response_type="ephemeral", **render(final).kwargs())

        later(services, reply, deliver,
              lambda: respond(replace_original=True, response_type="ephemeral", **oops().kwargs()))
