"""What every Slack listener shares: the services from Bolt's context, once-only keys, background work
and delivery of a reply where it belongs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from slack_bolt import BoltContext
from slack_sdk.errors import SlackApiError

from bot.core.services import Services
from bot.frontends import present
from bot.frontends.blocks import Message, render
from commands import Context
from commands.replies import AnyReply, Deferred, PartnerReply, TextReply

log = logging.getLogger("bot.frontends.slack")
OOPS = "Something went wrong on my side; it has been logged. Please try again."


def services_of(context: BoltContext) -> Services:
    """The services, put in every verified request's context by the middleware in :func:`register`."""
    return cast(Services, context["services"])


def context_for(services: Services, user: str, channel: str) -> Context:
    return Context(services=services, user_id=user, channel_id=channel, surface="slack")


def once(services: Services, key: str) -> bool:
    """True the first time a delivery (or a click, or a share) is seen, in any process sharing the store."""
    return not services.store.seen_event(key)


def later(services: Services, reply: Deferred, deliver: Callable[[AnyReply], object],
          on_fail: Callable[[], object] | None = None) -> None:
    """Run slow work on the background pool, then hand its reply to ``deliver``; failures reach the user."""
    def work() -> None:
        try:
            final = reply.run()
            deliver(final)
            announce(services, final)
        except Exception:  # background work has no Bolt error handler: log it and tell the person
            log.exception("background work failed")
            if on_fail is not None:
                try:
                    on_fail()
                except SlackApiError:
                    log.warning("could not tell the person about the failure")

    services.background.submit(work)


def announce(services: Services, reply: AnyReply) -> None:
    """Side posts a reply calls for: the channel announcement when a partner's checklist is complete."""
    if not isinstance(reply, PartnerReply) or not reply.finished:
        return
    channel = services.settings.rs_channel
    if not channel:
        return
    try:
        services.slack.chat_postMessage(channel=channel, **render(present.onboarding_summary(reply.outcome)).kwargs())
    except SlackApiError as exc:  # the onboarding is recorded; a failed announcement is only logged
        log.warning("could not post the onboarding summary to %s: %s", channel, exc.response.get("error"))


def oops() -> Message:
    return render(TextReply(OOPS))
