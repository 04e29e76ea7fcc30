"""Slack listeners: one `/p2p` command, the buttons, mentions and direct messages.

Acknowledge first: fast replies go back in the ack itself; slow work (lookups) acks with a progress line,
then replaces it through the ``response_url``. Slack re-sends a command or event it thinks we missed
(``X-Slack-Retry-Num``) and people double-click: every delivery is keyed (trigger id, action timestamp,
event id) in the store, so a repeat changes nothing and posts nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from slack_bolt import App, BoltRequest
from slack_sdk.errors import SlackApiError

from bot.core.services import Services
from bot.frontends.blocks import render, unpack
from bot.frontends.slack.verify import verified
from commands import Context, buttons, dispatch
from commands.replies import Deferred, TextReply

log = logging.getLogger(__name__)
WALK_MOVES = {"walk_next": "next", "walk_back": "back", "walk_done": "done", "walk_stop": "stop"}
ACTIONS = re.compile(r"^(walk_start|walk_next|walk_back|walk_done|walk_stop|show_topic|share_answer|vote_up|"
                     r"vote_down|more_answers|partner_cmd)(\.\d+)?$")
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
SHARED = "Shared in the channel."
NOT_IN_CHANNEL = "I'm not a member of this channel, so I can't post here. Invite me with `/invite @p2p-bot`."
OOPS = "Something went wrong on my side; it has been logged. Please try again."


def _ctx(services: Services, user: str, channel: str) -> Context:
    return Context(services=services, user_id=user, channel_id=channel, surface="slack")


def register(app: App, services: Services) -> None:
    store = services.store

    def once(key: str) -> bool:
        """True the first time a delivery is seen."""
        return not store.seen_event(key)

    def later(reply: Deferred, deliver: Any, respond: Any = None) -> None:
        """Run slow work on the background pool, then deliver its message; failures reach the user."""
        def work() -> None:
            try:
                deliver(render(reply.run()))
            except Exception:  # background work has no Bolt error handler: log it and tell the person
                log.exception("background work failed")
                if respond is not None:
                    respond(replace_original=True, response_type="ephemeral", text=OOPS)

        services.background.submit(work)

    @app.command("/p2p")
    def p2p(ack: Any, body: dict[str, Any], respond: Any) -> None:
        if not once(f"cmd:{body.get('trigger_id') or body.get('response_url', '')}"):
            ack()
            return
        ctx = _ctx(services, body.get("user_id", ""), body.get("channel_id", ""))
        reply = dispatch(ctx, body.get("text", ""))
        msg = render(reply)
        ack(response_type="in_channel" if msg.public else "ephemeral", **msg.kwargs())
        if isinstance(reply, Deferred):
            later(reply, lambda final: respond(replace_original=True, response_type="ephemeral", **final.kwargs()),
                  respond)

    @app.action(ACTIONS)
    def on_action(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        ack()
        action = body["actions"][0]
        user = body.get("user", {}).get("id", "")
        if not once(f"action:{user}:{action.get('action_ts', '')}:{action.get('action_id')}"):
            return  # the same click delivered twice
        aid, value = action["action_id"].split(".")[0], action.get("value", "")
        channel = (body.get("channel") or {}).get("id", "") or (body.get("container") or {}).get("channel_id", "")
        ctx = _ctx(services, user, channel)
        data = unpack(value)
        if aid == "partner_cmd":  # the button carries the sub-command it stands for
            reply = dispatch(ctx, f"partner {value}")
            respond(replace_original=True, **render(reply).kwargs())
            if isinstance(reply, Deferred):
                later(reply, lambda final: respond(replace_original=True, **final.kwargs()), respond)
        elif aid in WALK_MOVES:
            respond(replace_original=True, **render(buttons.move_walk(ctx, value, WALK_MOVES[aid])).kwargs())
        elif aid == "walk_start":
            respond(replace_original=False, response_type="ephemeral",
                    **render(buttons.start_walk(ctx, str(data.get("t", "")))).kwargs())
        elif aid == "show_topic":
            respond(replace_original=True,
                    **render(buttons.topic_answer(ctx, str(data.get("t", "")), str(data.get("q", "")))).kwargs())
        elif aid == "more_answers":
            respond(replace_original=False, response_type="ephemeral",
                    **render(buttons.more_answers(ctx, str(data.get("q", "")), list(data.get("skip", [])))).kwargs())
        elif aid in ("vote_up", "vote_down"):
            reply = buttons.vote(ctx, str(data.get("t", "")), str(data.get("q", "")), 1 if aid == "vote_up" else -1)
            respond(replace_original=False, response_type="ephemeral", **render(reply).kwargs())
        elif aid == "share_answer":
            digest = hashlib.sha256(body.get("response_url", "").encode()).hexdigest()[:16]
            if not once(f"share:{digest}:{data.get('t')}"):
                return  # a second click on the same Share button
            shared = render(buttons.topic_answer(ctx, str(data.get("t", "")), str(data.get("q", "")), shared_by=user))
            try:
                client.chat_postMessage(channel=channel, **shared.kwargs())
            except SlackApiError as exc:
                problem = NOT_IN_CHANNEL if exc.response.get("error") in ("not_in_channel", "channel_not_found") \
                    else f"Slack refused the post ({exc.response.get('error')})."
                respond(replace_original=False, response_type="ephemeral", **render(TextReply(problem)).kwargs())
                return
            respond(replace_original=False, response_type="ephemeral", **render(TextReply(SHARED)).kwargs())

    def answer_in_thread(event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        if not once(f"event:{body.get('event_id') or event.get('client_msg_id') or event.get('ts')}"):
            return
        text = _MENTION.sub("", event.get("text", "")).strip()
        ctx = _ctx(services, event.get("user", ""), event.get("channel", ""))
        thread = event.get("thread_ts") or event.get("ts")
        reply = dispatch(ctx, text)
        msg = render(reply)
        posted = client.chat_postMessage(channel=event["channel"], thread_ts=thread, **msg.kwargs())
        if isinstance(reply, Deferred):
            later(reply, lambda final: client.chat_update(channel=event["channel"], ts=posted["ts"], **final.kwargs()))

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        answer_in_thread(event, body, client)

    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        answer_in_thread(event, body, client)

    @app.error
    def on_error(error: Exception, request: BoltRequest, respond: Any = None) -> None:
        # the one place for the unexpected: log with the traceback (no secrets are in these objects)
        log.error("unhandled error in a Slack listener: %s", type(error).__name__, exc_info=error)
        # The body is trusted only if its signature checks out here and now: an error can come from the
        # verification itself, and a forged body's response_url would make us POST wherever it says.
        # (Socket Mode requests arrive over the app-token connection, so they are Slack's.)
        headers = {k.lower(): v[0] for k, v in request.headers.items() if v}
        if request.mode == "http" and not verified(services.settings.slack_signing_secret, request.raw_body.encode(),
                                                  headers):
            return
        if respond is not None and request.body.get("response_url"):
            try:
                respond(replace_original=False, response_type="ephemeral", text=OOPS)
            except Exception:  # the response_url may be expired; nothing more can be done for the user
                log.warning("could not tell the user about the error")
