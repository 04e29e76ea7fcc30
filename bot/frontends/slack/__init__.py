"""Slack listeners, registered in one place (as in Bolt's starter template): plain functions per surface.

- :mod:`.slash`: ``/p2p``; :mod:`.actions`: the buttons (one table); :mod:`.events`: @-mentions and DMs;
  :mod:`.home`: the App Home tab and its modals; :mod:`.verify`: is a request from Slack.
- Every listener finds the services in Bolt's ``context`` (put there by a middleware that only runs for a
  request that passed verification) and acknowledges before any Slack or Alma call.
- The error handler trusts nothing: it answers through a ``response_url`` only when the request carries
  a valid signature (checked again here) and passed through that middleware.

``MANIFEST`` is what ``manifest.yml`` must declare for these listeners (a test compares the two).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from slack_bolt import App, BoltContext, BoltRequest, Respond
from slack_sdk.errors import SlackApiError

from bot.core.services import Services
from bot.frontends.slack import actions, events, home, slash
from bot.frontends.slack.common import OOPS, guarded
from bot.frontends.slack.verify import verified

log = logging.getLogger(__name__)

COMMANDS = ("/p2p",)
EVENTS = ("app_mention", "message.im", "app_home_opened")
# every scope, and what needs it; nothing more is asked for
SCOPES = {
    "commands": "/p2p",
    "chat:write": "answers, shares, reminders, the morning post, DMs from the Home tab",
    "chat:write.public": "reminders and the morning post in public channels the bot was not invited to",
    "app_mentions:read": "the app_mention event",
    "im:history": "the message.im event (DMs with the bot)",
    "usergroups:read": "partner managers given as a user group (usergroups.users.list)",
    "channels:read": "remind add: can the bot post in this public channel (conversations.info)",
    "groups:read": "remind add: is the bot in this private channel (conversations.info)",
}


def register(app: App, services: Services) -> None:
    """Wire every listener to ``app``."""
    def with_services(context: BoltContext, next: Callable[[], None]) -> None:
        context["services"] = services
        next()

    app.middleware(with_services)
    app.command(COMMANDS[0])(guarded(slash.on_p2p))
    app.action(actions.PATTERN)(guarded(actions.on_action))
    app.action(re.compile("^(" + "|".join(home.MODALS) + ")$"))(guarded(home.on_home_button))
    app.action("home_resume")(guarded(home.on_home_resume))
    app.view(re.compile("^(" + "|".join(home.CALLBACKS) + ")$"))(guarded(home.on_home_submit))
    app.event("app_mention")(guarded(events.on_mention))
    app.event("message")(guarded(events.on_message))
    app.event("app_home_opened")(guarded(home.on_home_opened))
    app.error(on_error)


def on_error(error: Exception, request: BoltRequest, context: BoltContext, body: dict[str, object],
             respond: Respond | None = None) -> None:
    """The one place for the unexpected: log with the traceback (no secrets are in these objects)."""
    log.error("unhandled error in a Slack listener: %s", type(error).__name__, exc_info=error)
    services = context.get("services") if context is not None else None
    if not isinstance(services, Services):
        return  # the request never got past verification: its body (and response_url) mean nothing
    # An error can come from the verification itself, and a forged body's response_url would make us POST
    # wherever it says: check the signature again. (Socket Mode requests come over the app-token connection.)
    headers = {k.lower(): v[0] for k, v in request.headers.items() if v}
    if request.mode == "http" and not verified(services.settings.slack_signing_secret, request.raw_body.encode(),
                                               headers):
        return
    if respond is not None and body.get("response_url"):
        try:
            respond(replace_original=False, response_type="ephemeral", text=OOPS)
        except (SlackApiError, OSError):  # the response_url may be expired or gone: nothing more can be done
            log.warning("could not tell the user about the error")
