"""What every Slack listener shares: the services from Bolt's context, once-only keys, background work
and delivery of a reply where it belongs."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import cast

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.services import Services
from bot.frontends import present
from bot.frontends.blocks import Message, render
from commands import Context
from commands.replies import CommandReply, Deferred, PartnerReply, TextReply

log = logging.getLogger("bot.frontends.slack")
OOPS = "Something went wrong on my side; it has been logged. Please try again."
EXPIRED = "That took too long to open (Slack allows 3 seconds). Please click the button again."
SLACK_SAYS = "Slack refused my answer ({error}). Please try again."


def obj(data: object, *path: str) -> dict[str, object]:
    """The JSON object at ``path`` in ``data`` (``{}`` when anything on the way is missing or not an object):
    listeners read what Slack sent through these, never by indexing, so a malformed body cannot raise."""
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def text(data: object, *path: str) -> str:
    """The string at ``path`` in ``data`` ('' when missing or not a string: a number is not an id)."""
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, str) else ""


def services_of(context: BoltContext) -> Services:
    """The services, put in every verified request's context by the middleware in :func:`register`."""
    return cast(Services, context["services"])


def context_for(services: Services, user: str, channel: str) -> Context:
    return Context(services=services, user_id=user, channel_id=channel, surface="slack")


def once(services: Services, key: str) -> bool:
    """True the first time a delivery (or a click, or a share) is seen, in any process sharing the store."""
    return not services.store.seen_event(key)


def later(services: Services, reply: Deferred, deliver: Callable[[CommandReply], object],
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


def announce(services: Services, reply: CommandReply) -> None:
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


def guarded(listener: Callable[..., None]) -> Callable[..., None]:
    """``listener``, never raising: Bolt (1.x) answers Slack 404 after 3 s when a listener raises after
    ``ack()`` (its thread runner resets the acknowledgement), so the error is logged here, the request is
    acknowledged if it was not yet, and the person is told where they can see it. Bolt reads the listener's
    argument names through ``__wrapped__``, so the wrapper gets the same keyword arguments."""
    @functools.wraps(listener)
    def run(**kwargs: object) -> None:  # Bolt passes each argument the listener names by that name
        try:
            listener(**kwargs)
        except Exception as exc:  # the one place listener errors end: logged with the traceback, then told
            if isinstance(exc, SlackApiError):
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                log.warning("a Slack call in %s failed: %s", listener.__name__, error)
                said = EXPIRED if error == "expired_trigger_id" else SLACK_SAYS.format(error=error or "no reason")
            else:
                log.error("unhandled error in a Slack listener: %s", type(exc).__name__, exc_info=exc)
                said = OOPS
            ack = kwargs.get("ack")
            if callable(ack) and getattr(ack, "response", None) is None:
                ack()
            tell(kwargs, said)

    return run


def tell(kwargs: Mapping[str, object], said: str) -> None:
    """Tell the person behind a request about a failure: through its response_url when it has one (only
    the person sees it), else by a DM from the app (the Home tab has nowhere else)."""
    body = kwargs.get("body")
    respond = kwargs.get("respond")
    client = kwargs.get("client")
    msg = render(TextReply(said))
    try:
        if callable(respond) and text(body, "response_url"):
            respond(replace_original=False, response_type="ephemeral", **msg.kwargs())
            return
        user = text(body, "user", "id") or text(body, "user_id") or text(body, "event", "user")
        if user and isinstance(client, WebClient):
            client.chat_postMessage(channel=user, **msg.kwargs())
    except Exception:  # nowhere left to say it
        log.warning("could not tell the person about the failure")
