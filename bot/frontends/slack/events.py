"""@-mentions and direct messages: answered in a thread, once per message.

Slack may deliver one message twice (a DM as both ``message.im`` and ``app_mention``, or a retry), so
the key is the channel and the message's own ``ts``, not the event id. A channel thread is public: a
lookup answered there leaves the patron out, and the person who asked gets the full card privately."""

from __future__ import annotations

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.frontends.blocks import render
from bot.frontends.escaping import incoming
from bot.frontends.slack.common import context_for, later, once, services_of
from commands import dispatch
from commands.replies import CommandReply, Deferred, LookupReply


def is_private(event: dict[str, object]) -> bool:
    """A direct message with the bot (only the person and the bot read it)."""
    return event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D")


def answer_in_thread(event: dict[str, object], client: WebClient, context: BoltContext) -> None:
    services = services_of(context)
    channel, user = str(event.get("channel", "")), str(event.get("user", ""))
    if not channel or not once(services, f"msg:{channel}:{event.get('ts', '')}"):
        return
    public = not is_private(event)
    thread = str(event.get("thread_ts") or event.get("ts") or "")
    reply = dispatch(context_for(services, user, channel), incoming(str(event.get("text", ""))))

    def privately(final: CommandReply) -> None:
        """What was left out of the thread, to the person who asked (only they see it)."""
        if public and isinstance(final, LookupReply) and any(f.requester for f in final.result.found):
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread, **render(final).kwargs())

    posted = client.chat_postMessage(channel=channel, thread_ts=thread, **render(reply, public=public).kwargs())
    privately(reply)
    if isinstance(reply, Deferred):
        def deliver(final: CommandReply) -> None:
            client.chat_update(channel=channel, ts=str(posted["ts"]), **render(final, public=public).kwargs())
            privately(final)

        later(services, reply, deliver)


def on_mention(event: dict[str, object], client: WebClient, context: BoltContext) -> None:
    answer_in_thread(event, client, context)


def on_message(event: dict[str, object], client: WebClient, context: BoltContext) -> None:
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return
    answer_in_thread(event, client, context)
